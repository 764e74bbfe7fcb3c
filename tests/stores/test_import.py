"""Store CSV import: every row validated first, all-or-nothing by default, upsert by code, set-based."""

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from core.csv_import import RowError
from merchants.models import AuditAction, AuditEvent
from stores.imports import STORE_CSV_SPEC
from stores.models import Store, StoreStatus
from stores.services import stores_import_csv

from ..factories import StoreFactory, UserFactory

pytestmark = pytest.mark.django_db

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "stores.csv"
HEADER = "code,name,address_line1,city,region,postal_code,country,latitude,longitude,timezone,opened_on,status"
HOURS = ",hours_mon,hours_tue,hours_wed,hours_thu,hours_fri,hours_sat,hours_sun"


def _csv(*lines: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *lines]) + "\n").encode()


def _snapshot(merchant):
    return list(Store.objects.for_merchant(merchant).order_by("code").values())


def test_import_creates_stores_then_reimport_changes_nothing(merchant, django_assert_max_num_queries):
    # Given a valid file with three stores
    data = _csv(
        "PAR-01,Paris Marais,12 rue des Francs-Bourgeois,Paris,Île-de-France,75004,FR,48.8577,2.3582,,2019-04-15,",
        "lyo-01,Lyon Part-Dieu,,Lyon,Auvergne-Rhône-Alpes,69003,france,,,Europe/Paris,,active",
        "BER-01,Berlin Mitte,,Berlin,Berlin,10115,DE,52.52,13.405,Europe/Berlin,2021-09-01,closed",
    )
    actor = UserFactory()

    # When it is imported
    result = stores_import_csv(merchant=merchant, file=data, actor=actor)

    # Then the stores exist in canonical form and the audit row holds the counts
    assert result.errors == []
    assert (result.applied, result.created, result.updated, result.unchanged) == (True, 3, 0, 0)
    paris, lyon, berlin = (Store.objects.get(merchant=merchant, code=c) for c in ("PAR-01", "LYO-01", "BER-01"))
    assert (paris.latitude, paris.longitude, paris.timezone, paris.opened_on) == (
        Decimal("48.857700"),
        Decimal("2.358200"),
        "Europe/Paris",
        date(2019, 4, 15),
    )
    assert (lyon.country.code, lyon.status) == ("FR", StoreStatus.ACTIVE)
    assert berlin.status == StoreStatus.CLOSED
    assert berlin.closed_on is not None
    event = AuditEvent.objects.get()
    assert (event.action, event.actor, event.data["created"], event.data["total_rows"]) == (
        AuditAction.STORES_IMPORTED,
        actor,
        3,
        3,
    )

    # When the same file is imported again, in a bounded number of queries
    before = _snapshot(merchant)
    with django_assert_max_num_queries(6):
        again = stores_import_csv(merchant=merchant, file=data, actor=actor)

    # Then nothing changed
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    assert _snapshot(merchant) == before


def test_reimport_updates_by_code_and_only_present_columns(merchant):
    # Given a store with hours and coordinates
    store = StoreFactory(
        merchant=merchant, code="PAR-01", name="Old", latitude=Decimal("1"), longitude=Decimal("2"), city="Paris"
    )

    # When a file with fewer columns updates it (code in another case)
    result = stores_import_csv(merchant=merchant, file=b"code,name,country\npar-01,New name,FR\n", actor=None)

    # Then the name changed, the columns left out did not, and no duplicate was made
    assert (result.created, result.updated, result.unchanged) == (0, 1, 0)
    store.refresh_from_db()
    assert (store.name, store.city, store.latitude, store.opening_hours) == (
        "New name",
        "Paris",
        Decimal("1.000000"),
        {"mon": ["09:00-19:00"], "sat": ["10:00-18:00"]},
    )
    assert Store.objects.filter(merchant=merchant).count() == 1


def test_hours_columns(merchant):
    data = _csv(
        'P1,Paris,,,,,FR,,,,,,"09:00-12:00, 14:00-19:00",09:00-19:00,,,,10:00 - 18:00;19:00-20:00,',
        header="code,name,address_line1,city,region,postal_code,country,latitude,longitude,timezone,opened_on,status"
        + HOURS,
    )
    result = stores_import_csv(merchant=merchant, file=data, actor=None)
    assert result.errors == []
    assert Store.objects.get(code="P1").opening_hours == {
        "mon": ["09:00-12:00", "14:00-19:00"],
        "tue": ["09:00-19:00"],
        "wed": [],
        "thu": [],
        "fri": [],
        "sat": ["10:00-18:00", "19:00-20:00"],
        "sun": [],
    }


def test_invalid_file_reports_every_error_and_leaves_the_database_exactly_as_before(merchant):
    # Given existing stores and a file with one good row and many bad ones
    StoreFactory(merchant=merchant, code="PAR-01", name="Paris")
    before = _snapshot(merchant)
    data = _csv(
        "PAR-01,Paris renamed,,,,,FR,,,,,",
        "BAD CODE,Bad code,,,,,FR,,,,,",
        "X1,Bad lat,,,,,FR,123,2,,,",
        "X2,Bad lng,,,,,FR,45,abc,,,",
        "X3,Bad country,,,,,Atlantis,,,,,",
        "X4,Bad tz,,,,,FR,,,Mars/Base,,",
        "X5,Bad date,,,,,FR,,,,31/12/2020,",
        "X6,Bad status,,,,,FR,,,,,open",
        'X7,Formula,=HYPERLINK("http://x"),,,,FR,,,,,',
        "x7,Duplicate of X7 in lower case,,,,,FR,,,,,",
        ",No code,,,,,FR,,,,,",
    )
    # When it is imported in the default mode
    result = stores_import_csv(merchant=merchant, file=data, actor=None)

    # Then every error is reported with its row, column and reason, and nothing was written
    assert result.applied is False
    assert result.mode == "all-or-nothing"
    assert [(e.row, e.column, e.value) for e in result.errors] == [
        (3, "code", "BAD CODE"),
        (4, "latitude", "123"),
        (5, "longitude", "abc"),
        (6, "country", "Atlantis"),
        (7, "timezone", "Mars/Base"),
        (8, "opened_on", "31/12/2020"),
        (9, "status", "open"),
        (10, "code", "X7"),
        (11, "code", "X7"),
        (12, "code", ""),
    ]
    assert result.errors[1].reason == (
        "“123” is not a latitude: give a decimal number between -90 and 90 (e.g. 48.8566)."
    )
    assert result.errors[3].reason == "“Atlantis” is not a country: use an ISO 3166 code such as FR, DE or GB."
    assert result.errors[7].reason == "Duplicate code X7: also on row 11. Each code may appear only once in a file."
    assert (result.total_rows, result.invalid_rows) == (11, 10)
    assert _snapshot(merchant) == before
    assert AuditEvent.objects.count() == 0


def test_skip_invalid_writes_valid_rows_and_keeps_formula_text_plain(merchant):
    data = _csv(
        'X7,"=HYPERLINK(""http://evil.example"",""x"")",,,,,FR,,,,,',
        "X8,Bad,,,,,FR,,,,,open",
    )
    result = stores_import_csv(merchant=merchant, file=data, actor=None, mode="skip-invalid")
    assert (result.applied, result.created, result.invalid_rows) == (True, 1, 1)
    assert result.errors == [RowError(3, "status", "open", "“open” is not a status: use active or closed.")]
    assert Store.objects.get(code="X7").name == '=HYPERLINK("http://evil.example","x")'


@pytest.mark.parametrize(
    ("case", "row", "column", "reason"),
    [
        ("overlap", "P1,P,FR,09:00-13:00;12:00-18:00", "hours_mon", "“09:00-13:00” and “12:00-18:00” overlap."),
        (
            "end before start",
            "P1,P,FR,19:00-09:00",
            "hours_mon",
            "“19:00-09:00” ends before it starts: the start must be earlier than the end (overnight hours are "
            "written as two intervals).",
        ),
        (
            "not HH:MM",
            "P1,P,FR,9h-19h",
            "hours_mon",
            "“9h-19h” is not an interval: write HH:MM-HH:MM with a 24-hour clock, e.g. 09:00-19:00.",
        ),
        ("24:30", "P1,P,FR,20:00-24:30", "hours_mon", None),
    ],
)
def test_bad_hours(merchant, case, row, column, reason):
    data = _csv(row + ",,,,,,", header="code,name,country" + HOURS)
    result = stores_import_csv(merchant=merchant, file=data, actor=None)
    assert [(e.row, e.column) for e in result.errors] == [(2, column)], case
    if reason:
        assert result.errors[0].reason == reason
    assert not Store.objects.exists()


def test_hours_columns_come_as_a_set(merchant):
    result = stores_import_csv(
        merchant=merchant, file=b"code,name,country,hours_mon\nP1,P,FR,09:00-10:00\n", actor=None
    )
    assert result.errors[0].row == 1
    assert "give all seven hours_ columns or none; missing: hours_tue, hours_wed" in result.errors[0].reason


def test_closed_on_rules(merchant):
    # Given a store that opened in 2020
    StoreFactory(merchant=merchant, code="OLD", opened_on=date(2020, 1, 1))

    # When a file closes it before it opened (the file has no opened_on column), gives a closing date to an active
    # store, and closes a new store before its own opening
    data = _csv(
        "OLD,Old,FR,closed,2019-06-01",
        "NEW,New,FR,active,2024-01-01",
        header="code,name,country,status,closed_on",
    )
    result = stores_import_csv(merchant=merchant, file=data, actor=None)
    other = stores_import_csv(
        merchant=merchant,
        file=b"code,name,country,opened_on,status,closed_on\nN2,N,FR,2024-02-01,closed,2024-01-01\n",
        actor=None,
    )

    # Then each is an error on closed_on
    assert [(e.row, e.column, e.reason) for e in [*result.errors, *other.errors]] == [
        (2, "closed_on", "The store opened on 2020-01-01: it cannot close before."),
        (3, "closed_on", "Only a closed store has a closing date: set status to closed, or leave it empty."),
        (2, "closed_on", "The store cannot close before it opened (opened_on)."),
    ]


def test_latin1_file_is_refused_with_the_row(merchant):
    data = "code,name,country\nP1,Plain,FR\nP2,Café,FR\n".encode("latin-1")
    result = stores_import_csv(merchant=merchant, file=data, actor=None)
    assert result.applied is False
    assert [(e.row, e.column) for e in result.errors] == [(3, "")]
    assert result.errors[0].reason.startswith("Row 3 is not UTF-8 text (it contains the byte 0xE9")
    assert not Store.objects.exists()


def test_missing_and_unknown_header_columns_are_named(merchant):
    result = stores_import_csv(merchant=merchant, file=b"code,nom,pays\nP1,Paris,FR\n", actor=None)
    assert result.errors[0].reason.startswith(
        "The header row is not right: missing required column(s): name, country; unknown column(s): nom, pays."
    )


def test_import_of_many_rows_is_set_based(merchant, django_assert_max_num_queries):
    # Given 2,000 rows, half of them updating existing stores
    Store.objects.bulk_create(
        [
            Store(merchant=merchant, code=f"S{i:04d}", name=f"Old {i}", country="FR", timezone="Europe/Paris")
            for i in range(1000)
        ]
    )
    data = _csv(*(f"S{i:04d},Store {i},,Paris,,,FR,,,,," for i in range(2000)))

    # When imported, the number of queries does not grow with the rows
    with django_assert_max_num_queries(10):
        result = stores_import_csv(merchant=merchant, file=data, actor=None)

    assert (result.created, result.updated, result.unchanged) == (1000, 1000, 0)
    assert Store.objects.filter(merchant=merchant).count() == 2000


def test_example_file_and_template_are_valid(merchant):
    # The example shipped in the repository imports cleanly, and its header is the documented one
    with EXAMPLE.open("rb") as file:
        result = stores_import_csv(merchant=merchant, file=file, actor=None)
    assert result.errors == []
    assert result.created >= 5
    assert EXAMPLE.read_text(encoding="utf-8").splitlines()[0] == ",".join(STORE_CSV_SPEC.column_names)


def test_import_stores_command(merchant, tmp_path, capsys):
    path = tmp_path / "stores.csv"
    path.write_bytes(b"code,name,country\nP1,Paris,FR\nP2,,FR\n")

    # All-or-nothing: errors printed, exit non-zero, nothing written
    with pytest.raises(CommandError, match="1 error"):
        call_command("import_stores", "--merchant", merchant.slug, str(path))
    out = capsys.readouterr()
    assert "row 3, column name: A value is required." in out.err
    assert not Store.objects.exists()

    # Skip-invalid: the valid row is written, still a non-zero exit because of the error
    with pytest.raises(CommandError):
        call_command("import_stores", "--merchant", merchant.slug, str(path), "--mode", "skip-invalid")
    assert list(Store.objects.values_list("code", flat=True)) == ["P1"]

    # A clean file: summary, exit zero
    path.write_bytes(b"code,name,country\nP1,Paris,FR\n")
    call_command("import_stores", "--merchant", merchant.slug, str(path))
    assert "1 row(s) read: 0 created, 0 updated, 1 unchanged." in capsys.readouterr().out


def test_import_stores_command_unknown_merchant(tmp_path):
    path = tmp_path / "stores.csv"
    path.write_bytes(b"code,name,country\nP1,Paris,FR\n")
    with pytest.raises(CommandError, match="No merchant with slug nope"):
        call_command("import_stores", "--merchant", "nope", str(path))
