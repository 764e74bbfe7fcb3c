"""What every sales file goes through: bytes, encodings, CSV records and their row numbers, headers, format
detection, progress; and the shared helpers (money, Rails time zones, local times, derived SKUs)."""

import io
import zoneinfo
from datetime import datetime
from decimal import Decimal

import pytest

from sales.ingest.types import OrderInput, RowError
from sales.parsers import detect_format, parse, row_from_ref
from sales.parsers.base import RecentOrderIds, derive_sku, localize
from sales.parsers.money import MoneyReader, parse_decimal
from sales.parsers.rails_timezones import RAILS_TIME_ZONES, resolve_time_zone

from .parser_helpers import unsaved_merchant

HEADER = b"order_id,placed_at,channel,sku,quantity,unit_price,product_name\n"
SAVE_AS = "Save it from your spreadsheet as “CSV UTF-8 (comma delimited)” and upload that file."


def _merchant():
    return unsaved_merchant("EUR", "Europe/Paris", name="Maison Alpha", slug="alpha")


def _parse(data: bytes, format=None):  # noqa: A002
    return list(parse(io.BytesIO(data), format=format, merchant=_merchant()))


def _row(order_id: str, name: str = "Tee") -> bytes:
    return f"{order_id},2026-09-03T10:14:00+02:00,online,TEE,1,29.90,{name}\n".encode()


def _file_error(reason: str, value: str = "") -> list[RowError]:
    return [RowError(ref="row 1", column="", value=value, reason=reason, row=1)]


@pytest.mark.parametrize(
    ("case", "data", "reason"),
    [
        ("empty", b"", "The file is empty."),
        ("blank lines only", b"\r\n\n  \n", "The file is empty."),
        (
            "excel workbook",
            b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 100,
            f"Not a CSV file: this is an Excel workbook or a ZIP archive. {SAVE_AS}",
        ),
        ("pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", f"Not a CSV file: this is a PDF document. {SAVE_AS}"),
        (
            "utf-16",
            "order_id,placed_at\n".encode("utf-16"),
            f"Not a CSV file: it is encoded as UTF-16, not UTF-8. {SAVE_AS}",
        ),
        ("binary", bytes(range(256)) * 4, f"Not a CSV file: it contains binary data (NUL bytes). {SAVE_AS}"),
        (
            "html",
            b"<!DOCTYPE html><html><body>Login</body></html>",
            "Not a CSV file: it looks like an HTML or XML document.",
        ),
    ],
)
def test_files_that_are_not_csv_give_one_clear_error(case, data, reason):
    assert _parse(data) == _file_error(reason)


def test_a_header_without_data_rows():
    assert _parse(HEADER) == _file_error("The file has a header row but no data rows.")


def test_unknown_format_is_one_error_on_row_1():
    assert _parse(b"date,amount\n2026-01-01,3\n") == _file_error(
        "Unknown file format: the header row matches none of Shopify orders export (CSV); Square items detail "
        "export (CSV); NewRetail generic CSV; NewRetail generic JSON lines. Check that the first row names the "
        "columns (see the import page for each format).",
        "date,amount",
    )


def test_the_wrong_format_chosen_names_the_missing_columns_and_the_format_it_looks_like():
    data = b"Name,Created at,Currency,Lineitem quantity,Lineitem name,Lineitem price\n#1,x,USD,1,Tee,1\n"
    assert _parse(data, format="square-items") == _file_error(
        "The header row does not fit the format “Square items detail export (CSV)”: missing required column(s): "
        "Date, Time, Item, Qty, Gross Sales, Net Sales, Transaction ID. This looks like a file in the format "
        "“Shopify orders export (CSV)”: choose that format.",
        "Name,Created at,Currency,Lineitem quantity,Lineitem name,Lineitem price",
    )


def test_an_unknown_format_name_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown format 'xlsx'"):
        parse(io.BytesIO(b""), format="xlsx", merchant=_merchant())


@pytest.mark.parametrize(
    ("case", "header", "expected"),
    [
        ("shopify", ["Name", "Email", "Lineitem quantity", "Lineitem price"], "shopify-orders"),
        ("square", ["Date", "Time", "Transaction ID", "Gross Sales"], "square-items"),
        ("generic, any case and spaces", [" Order_ID ", "PLACED_AT", "sku"], "generic-csv"),
        ("unknown", ["date", "amount"], None),
        ("empty", [], None),
    ],
)
def test_detect_format(case, header, expected):
    assert detect_format(header) == expected


def test_bom_crlf_and_quoted_newlines_keep_row_numbers_right():
    # Given a BOM, CRLF endings, and a product name spanning two physical lines (rows 3-4)
    data = (
        b"\xef\xbb\xbf"
        + HEADER.replace(b"\n", b"\r\n")
        + _row("W-1").replace(b"\n", b"\r\n")
        + b'W-2,2026-09-03T10:14:00+02:00,online,TEE,1,29.90,"Tee\r\nsecond line"\r\n'
        + b"W-3,2026-09-03T10:14:00+02:00,online,TEE,x,29.90,Tee\r\n"
    )
    # When parsed
    first, second, error = _parse(data)
    # Then the multi-line record is row 3 and the next record is row 5 (its physical line)
    assert (first.ref, second.ref, second.lines[0].name) == ("row 2", "row 3", "Tee\r\nsecond line")
    assert (error.row, error.column, error.value) == (5, "quantity", "x")


def test_latin1_bytes_are_an_error_on_their_row_and_the_other_rows_go_on():
    data = HEADER + _row("W-1") + "W-2,2026-09-03T10:14:00+02:00,online,TEE,1,29.90,Café\n".encode("latin-1")
    data += _row("W-3")
    items = _parse(data)
    assert [getattr(item, "external_id", None) for item in items] == ["W-1", None, "W-3"]
    assert items[1] == RowError(
        ref="row 3",
        column="product_name",
        value="Caf\ufffd",
        reason="not UTF-8 text: contains the byte 0xE9, typical of a file saved as Latin-1 or Windows-1252. " + SAVE_AS,
        row=3,
    )


def test_a_truncated_last_row_is_an_error_on_that_row():
    # Given a file cut in the middle of a quoted value, and one cut after a few values
    quoted = HEADER + _row("W-1") + _row("W-2") + b'W-3,2026-09-03T10:14:00+02:00,online,TEE,1,29.90,"Tee'
    short = HEADER + _row("W-1") + b"W-2,2026-09-03T10:14:00+02:00,onl"
    # Then the broken row is reported; a cut inside quotes cannot tell which order the row belonged to, so the
    # order just before it is held back too (and says why)
    items = _parse(quoted)
    assert items[0].external_id == "W-1"
    assert items[1:] == [
        RowError(
            ref="row 3",
            column="order_id",
            value="W-2",
            reason="order W-2 not imported: row 4 next to it could not be read and may belong to it",
            row=3,
        ),
        RowError(
            ref="row 4",
            column="",
            value="",
            reason="not valid CSV: the file ends inside a quoted value (a quote is not closed: truncated row?)",
            row=4,
        ),
    ]
    items = _parse(short)
    assert items[0].external_id == "W-1"
    assert items[1:] == [
        RowError(
            ref="row 3",
            column="",
            value="W-2,2026-09-03T10:14:00+02:00,onl",
            reason="the row has 3 values but the header has 7 columns (truncated row?)",
            row=3,
        )
    ]


def test_a_stray_quote_is_an_error_on_its_row_only():
    data = HEADER + _row("W-1") + b'W-2,2026-09-03T10:14:00+02:00,online,TEE,1,29.90,"Tee" shirt\n' + _row("W-3")
    items = _parse(data)
    assert [getattr(item, "external_id", None) for item in items] == [None, None, "W-3"]
    assert [(item.row, item.reason) for item in items[:2]] == [
        (2, "order W-1 not imported: row 3 next to it could not be read and may belong to it"),
        (3, "not valid CSV: ',' expected after '\"' (a quote inside a value must be doubled)"),
    ]


def test_progress_bytes_and_rows_read_and_a_non_seekable_file():
    class Pipe(io.RawIOBase):  # no seek: a stream read once
        def __init__(self, data):
            self.data = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, buffer):
            return self.data.readinto(buffer)

    data = HEADER + _row("W-1") + b"\n" + _row("W-2")
    run = parse(Pipe(data), format=None, merchant=_merchant())
    assert run.format == "generic-csv"
    assert [order.external_id for order in run] == ["W-1", "W-2"]
    assert (run.bytes_read, run.rows_read) == (len(data), 2)


def test_money_reader():
    reader = MoneyReader("EUR")
    assert [reader(text) for text in ["€8.00", "-€8.00", "(€8.00)", "€1,250.00", "12,50 €", "1.250,00 €"]] == [
        Decimal("8.00"),
        Decimal("-8.00"),
        Decimal("-8.00"),
        Decimal("1250.00"),
        Decimal("12.50"),
        Decimal("1250.00"),
    ]
    assert [reader(text) for text in ["1,250", "EUR 3.10", "0"]] == [Decimal("1250"), Decimal("3.10"), Decimal("0")]
    for text, reason in [
        ("£3.00", "currency GBP in a file for a merchant selling in EUR"),
        ("USD 3.00", "currency USD in a file for a merchant selling in EUR"),
        ("€", "not an amount of money (expected something like $1,250.00 or ($8.00))"),
        ("€1e5", "not an amount of money (expected something like $1,250.00 or ($8.00))"),
    ]:
        with pytest.raises(ValueError, match=reason.replace("(", r"\(").replace(")", r"\)").replace("$", r"\$")):
            reader(text)


@pytest.mark.parametrize("text", ["1e5", "NaN", "Infinity", "1_000", "1.2.3", ".", "", "- 3", "12,50"])
def test_plain_decimals_refuse_what_decimal_would_accept(text):
    with pytest.raises(ValueError, match="not a number"):
        parse_decimal(text)


def test_every_rails_time_zone_maps_to_a_real_iana_zone():
    assert len(RAILS_TIME_ZONES) >= 150
    assert all(resolve_time_zone(name) is not None for name in RAILS_TIME_ZONES)
    assert resolve_time_zone("Eastern Time (US & Canada)") == zoneinfo.ZoneInfo("America/New_York")
    assert resolve_time_zone("Beijing") == zoneinfo.ZoneInfo("Asia/Shanghai")
    assert resolve_time_zone("London") == zoneinfo.ZoneInfo("Europe/London")
    assert resolve_time_zone("  pacific time (us & canada) ") == zoneinfo.ZoneInfo("America/Los_Angeles")
    assert resolve_time_zone("Narnia Time") is None


def test_localize_refuses_the_daylight_saving_gap_and_takes_the_first_of_an_ambiguous_time():
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    with pytest.raises(ValueError, match="daylight-saving gap") as exc_info:
        localize(datetime(2026, 3, 29, 2, 30), paris, "Europe/Paris")
    assert str(exc_info.value) == "date 2026-03-29 02:30 does not exist in Europe/Paris (daylight-saving gap)"
    ambiguous = localize(datetime(2026, 10, 25, 2, 30), paris, "Europe/Paris")
    assert ambiguous.utcoffset().total_seconds() == 7200  # CEST: the first 02:30


def test_derived_skus_are_stable_slugs_of_at_most_64_characters():
    assert derive_sku("SQ-", "Latte", "Large") == "SQ-LATTE-LARGE"
    assert derive_sku("SQ-", "Crème brûlée!", "") == "SQ-CREME-BRULEE"
    long_a = derive_sku("SQ-", "A very long product name " * 5 + "one")
    long_b = derive_sku("SQ-", "A very long product name " * 5 + "two")
    assert (len(long_a), len(long_b)) == (63, 63)
    assert long_a != long_b
    assert derive_sku("SQ-", "抹茶") == derive_sku("SQ-", "抹茶")
    assert derive_sku("SQ-", "抹茶") == "SQ-" + derive_sku("", "抹茶")
    assert len(derive_sku("SQ-", "抹茶")) == 13


def test_row_from_ref():
    assert [row_from_ref(ref) for ref in ["row 12", "rows 12-14", "row 5, lines[1]", "orders[3]"]] == [12, 12, 5, None]


def test_recent_order_ids_remember_a_bounded_window():
    recent = RecentOrderIds(window=2)
    assert [recent.first_row(order_id, row) for row, order_id in enumerate(["a", "b", "a", "c", "d", "e", "a"])] == [
        None,
        None,
        0,
        None,
        None,
        None,
        None,  # "a" was seen 6 orders ago: beyond the window, forgotten (memory stays flat)
    ]


def test_an_order_input_is_what_comes_out():
    assert isinstance(_parse(HEADER + _row("W-1"))[0], OrderInput)


def test_semicolon_and_tab_separated_files_are_read():
    semicolons = HEADER.replace(b",", b";") + _row("W-1").replace(b",", b";")
    tabs = HEADER.replace(b",", b"\t") + _row("W-2").replace(b",", b"\t")
    assert [order.external_id for order in _parse(semicolons) + _parse(tabs)] == ["W-1", "W-2"]


def test_django_uploads_are_read_as_they_come():
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("orders.csv", HEADER + _row("W-1"), content_type="text/csv")
    upload.read()  # already read once (say, to hash it): parse starts from the beginning again
    run = parse(upload, format=None, merchant=_merchant(), filename=upload.name)
    assert [order.external_id for order in run] == ["W-1"]


def test_a_long_bad_value_is_shortened_in_the_error():
    data = HEADER + f"W-1,2026-09-03T10:14:00+02:00,online,TEE,{'9' * 300},29.90,Tee\n".encode()
    [error] = _parse(data)
    assert (error.column, len(error.value), error.value[-1]) == ("quantity", 120, "…")
    assert error.reason == "quantity too large (at most 999999999.999)"
