"""Store pages: list/search/filters/pagination, detail, create, edit, close, import; roles and isolation."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from merchants.models import AuditAction, AuditEvent
from stores.models import Store, StoreStatus

from ..factories import StoreFactory

pytestmark = pytest.mark.django_db


def url(name, merchant, *args):
    return reverse(f"stores:{name}", args=[merchant.slug, *args])


FORM = {
    "code": "par-02",
    "name": "Paris Saint-Germain",
    "address_line1": "45 rue du Four",
    "address_line2": "",
    "city": "Paris",
    "region": "Île-de-France",
    "postal_code": "75006",
    "country": "FR",
    "latitude": "48.8526",
    "longitude": "2.3311",
    "timezone": "Europe/Paris",
    "opened_on": "2018-09-01",
    "hours_mon": "",
    "hours_tue": "10:30-13:00, 14:00-19:30",
    "hours_wed": "10:30-19:30",
    "hours_thu": "10:30-19:30",
    "hours_fri": "10:30-19:30",
    "hours_sat": "10:00-19:30",
    "hours_sun": "",
}


# --- list -----------------------------------------------------------------------------------


def test_list_shows_stores_in_code_order_with_constant_queries(owner_client, merchant, django_assert_num_queries):
    # Given three stores of the merchant and one of another merchant
    StoreFactory(merchant=merchant, code="LYO-01", name="Lyon")
    StoreFactory(merchant=merchant, code="PAR-01", name="Paris", status=StoreStatus.CLOSED, closed_on=date(2024, 1, 1))
    StoreFactory(merchant=merchant, code="BDX-01", name="Bordeaux")
    StoreFactory(code="ZZZ-99", name="Someone else's")

    # When the owner opens the list: session, user, membership, filter choices, count, page, memberships menu
    with django_assert_num_queries(7):
        response = owner_client.get(url("store-list", merchant))

    # Then
    assert response.status_code == 200
    assert [store.code for store in response.context["stores"]] == ["BDX-01", "LYO-01", "PAR-01"]
    assert b"Someone else" not in response.content
    assert response.context["nav"] == "stores"


@pytest.mark.parametrize(
    ("case", "query", "expected"),
    [
        ("search by code", {"q": "par"}, ["PAR-01"]),
        ("search by name", {"q": "lyon"}, ["LYO-01"]),
        ("search by city", {"q": "berlin"}, ["BER-01"]),
        ("status", {"status": "closed"}, ["PAR-01"]),
        ("region", {"region": "Berlin"}, ["BER-01"]),
        ("country", {"country": "FR"}, ["LYO-01", "PAR-01"]),
        ("sorted by name descending", {"sort": "-name"}, ["PAR-01", "BER-01", "LYO-01"]),
        ("unknown filter value is ignored", {"status": "bogus"}, ["BER-01", "LYO-01", "PAR-01"]),
    ],
)
def test_list_search_filters_and_sort(owner_client, merchant, case, query, expected):
    StoreFactory(
        merchant=merchant,
        code="PAR-01",
        name="Paris Marais",
        city="Paris",
        status=StoreStatus.CLOSED,
        closed_on=date(2024, 1, 1),
    )
    StoreFactory(merchant=merchant, code="LYO-01", name="Lyon Bellecour", city="Lyon", region="Auvergne-Rhône-Alpes")
    StoreFactory(
        merchant=merchant,
        code="BER-01",
        name="Mitte",
        city="Berlin",
        region="Berlin",
        country="DE",
        timezone="Europe/Berlin",
    )

    response = owner_client.get(url("store-list", merchant), query)

    assert [store.code for store in response.context["stores"]] == expected, case


def test_list_paginates(owner_client, merchant):
    Store.objects.bulk_create(
        [
            Store(merchant=merchant, code=f"S{i:03d}", name=f"Store {i}", country="FR", timezone="Europe/Paris")
            for i in range(30)
        ]
    )
    page2 = owner_client.get(url("store-list", merchant), {"page": 2, "q": "store"})
    assert [store.code for store in page2.context["stores"]] == [f"S{i:03d}" for i in range(25, 30)]
    assert b"Page 2 of 2" in page2.content
    assert 'href="?page=1&amp;q=store"' in page2.content.decode()


def test_list_empty_states(owner_client, analyst_client, merchant):
    assert b"No stores yet." in owner_client.get(url("store-list", merchant)).content
    assert b"Import from CSV" in owner_client.get(url("store-list", merchant)).content
    analyst_page = analyst_client.get(url("store-list", merchant)).content
    assert b"An owner or admin of Maison Alpha can add them." in analyst_page
    assert b"Add a store" not in analyst_page
    assert b"No store matches." in owner_client.get(url("store-list", merchant), {"q": "nothing"}).content


def test_store_manager_sees_only_assigned_stores(store_manager_client, merchant):
    other = StoreFactory(merchant=merchant, code="OTHER", name="Not mine")

    listing = store_manager_client.get(url("store-list", merchant))
    assert [store.code for store in listing.context["stores"]] == ["MGR1"]
    assert store_manager_client.get(url("store-detail", merchant, "MGR1")).status_code == 200
    assert store_manager_client.get(url("store-detail", merchant, other.code)).status_code == 404


# --- detail ---------------------------------------------------------------------------------


def test_detail_shows_address_coordinates_and_hours(analyst_client, merchant, django_assert_num_queries):
    StoreFactory(
        merchant=merchant,
        code="PAR-01",
        name="Paris Marais",
        address_line1="12 rue des Francs-Bourgeois",
        postal_code="75004",
        latitude=Decimal("48.857700"),
        longitude=Decimal("2.358200"),
        opening_hours={"mon": ["09:00-12:00", "14:00-19:00"], "sun": []},
    )
    # session, user, membership, store, memberships menu
    with django_assert_num_queries(5):
        response = analyst_client.get(url("store-detail", merchant, "par-01"))  # any case
    page = response.content.decode()
    assert response.status_code == 200
    assert "12 rue des Francs-Bourgeois" in page
    assert "48.857700, 2.358200" in page
    assert "https://www.openstreetmap.org/?mlat=48.857700&amp;mlon=2.358200" in page
    assert '<th scope="row">Monday</th><td>09:00-12:00, 14:00-19:00</td>' in page
    assert '<th scope="row">Sunday</th><td><span class="badge">Closed</span></td>' in page
    assert "Edit" not in page  # the analyst cannot change it


def test_other_merchants_store_is_404(owner_client, other_merchant):
    StoreFactory(merchant=other_merchant, code="THEIRS")
    for name in ("store-detail", "store-update", "store-close"):
        assert owner_client.get(reverse(f"stores:{name}", args=["alpha", "THEIRS"])).status_code == 404, name
        # and through their slug, the owner of alpha is not a member: 404 too
        assert owner_client.get(url(name, other_merchant, "THEIRS")).status_code == 404, name
    # whatever the method: a page that refuses POST (the detail) still answers 404 first
    assert owner_client.post(reverse("stores:store-detail", args=["alpha", "THEIRS"])).status_code == 404
    assert owner_client.get(reverse("stores:store-reopen", args=["alpha", "THEIRS"])).status_code == 404
    assert owner_client.post(reverse("stores:store-reopen", args=["alpha", "THEIRS"])).status_code == 404


# --- create / edit / close ------------------------------------------------------------------


def test_create_store(owner_client, merchant):
    response = owner_client.post(url("store-create", merchant), FORM)

    store = Store.objects.get(merchant=merchant)
    assert response.status_code == 302
    assert response["Location"] == url("store-detail", merchant, "PAR-02")
    assert (store.code, store.latitude, store.opened_on) == ("PAR-02", Decimal("48.852600"), date(2018, 9, 1))
    assert store.opening_hours == {
        "mon": [],
        "tue": ["10:30-13:00", "14:00-19:30"],
        "wed": ["10:30-19:30"],
        "thu": ["10:30-19:30"],
        "fri": ["10:30-19:30"],
        "sat": ["10:00-19:30"],
        "sun": [],
    }
    assert AuditEvent.objects.get().action == AuditAction.STORE_CREATED


def test_create_form_defaults_and_labels(admin_member_client, merchant):
    response = admin_member_client.get(url("store-create", merchant))
    page = response.content.decode()
    assert response.context["form"]["timezone"].initial == "Europe/Paris"
    for label in ("Code", "Monday", "Sunday", "Time zone", "Country"):
        assert f">{label}" in page, label


def test_create_reports_field_errors(owner_client, merchant):
    StoreFactory(merchant=merchant, code="PAR-02", name="Existing")
    response = owner_client.post(
        url("store-create", merchant),
        {**FORM, "hours_mon": "09:00-13:00, 12:00-18:00", "latitude": "95", "longitude": ""},
    )
    form = response.context["form"]
    assert response.status_code == 200
    assert form.errors == {
        "code": ["The code PAR-02 is already used by Existing."],
        "latitude": ["“95” is not a latitude: give a decimal number between -90 and 90 (e.g. 48.8566)."],
        "hours_mon": ["“09:00-13:00” and “12:00-18:00” overlap."],
    }
    assert Store.objects.count() == 1


@pytest.mark.parametrize(
    ("case", "next_url", "expected"),
    [
        ("safe next", "/m/alpha/onboarding/stores/", "/m/alpha/onboarding/stores/"),
        ("external next is ignored", "https://evil.example/", "/m/alpha/stores/PAR-02/"),
        ("scheme-relative next is ignored", "//evil.example/", "/m/alpha/stores/PAR-02/"),
    ],
)
def test_create_follows_only_a_safe_next(owner_client, merchant, case, next_url, expected):
    page = owner_client.get(url("store-create", merchant), {"next": next_url}).content.decode()
    if expected == next_url:
        assert f'name="next" value="{next_url}"' in page
    response = owner_client.post(url("store-create", merchant), {**FORM, "next": next_url})
    assert response["Location"] == expected, case


def test_edit_store(owner_client, merchant):
    store = StoreFactory(merchant=merchant, code="PAR-02", name="Old name", opening_hours={"mon": ["09:00-19:00"]})
    form_page = owner_client.get(url("store-update", merchant, "PAR-02"))
    assert form_page.context["form"]["hours_mon"].value() == "09:00-19:00"

    response = owner_client.post(url("store-update", merchant, "PAR-02"), {**FORM, "code": "PAR-02"})

    store.refresh_from_db()
    assert response["Location"] == url("store-detail", merchant, "PAR-02")
    assert store.name == "Paris Saint-Germain"
    event = AuditEvent.objects.get()
    assert event.action == AuditAction.STORE_UPDATED
    assert event.data["changed"]["name"] == ["Old name", "Paris Saint-Germain"]


def test_close_and_reopen_store(owner_client, merchant):
    store = StoreFactory(merchant=merchant, code="PAR-01", opened_on=date(2020, 1, 1))
    assert owner_client.get(url("store-close", merchant, "PAR-01")).status_code == 200

    response = owner_client.post(url("store-close", merchant, "PAR-01"), {"closed_on": "2024-06-30"})

    store.refresh_from_db()
    assert response["Location"] == url("store-detail", merchant, "PAR-01")
    assert (store.status, store.closed_on) == (StoreStatus.CLOSED, date(2024, 6, 30))
    detail = owner_client.get(url("store-detail", merchant, "PAR-01")).content.decode()
    assert "Closed since 30 June 2024" in detail
    assert "Reopen" in detail

    assert (
        "The store was closed on 30 June 2024."
        in owner_client.get(url("store-reopen", merchant, "PAR-01")).content.decode()
    )
    owner_client.post(url("store-reopen", merchant, "PAR-01"))
    store.refresh_from_db()
    assert (store.status, store.closed_on) == (StoreStatus.ACTIVE, None)


def test_close_before_opening_is_refused(owner_client, merchant):
    store = StoreFactory(merchant=merchant, code="PAR-01", opened_on=date(2020, 1, 1))
    response = owner_client.post(url("store-close", merchant, "PAR-01"), {"closed_on": "2019-01-01"})
    assert response.context["form"].errors == {"closed_on": ["The store cannot close before it opened."]}
    store.refresh_from_db()
    assert store.status == StoreStatus.ACTIVE


def test_there_is_no_delete(owner_client, merchant):
    StoreFactory(merchant=merchant, code="PAR-01")
    assert owner_client.delete(url("store-detail", merchant, "PAR-01")).status_code == 405
    assert owner_client.post(url("store-detail", merchant, "PAR-01")).status_code == 405
    assert Store.objects.count() == 1


# --- import ---------------------------------------------------------------------------------


def _upload(content: bytes, name="stores.csv"):
    return SimpleUploadedFile(name, content, content_type="text/csv")


def test_import_page_documents_columns_and_downloads(owner_client, merchant):
    page = owner_client.get(url("store-import", merchant)).content.decode()
    assert "<code>hours_sun</code>" in page
    template = owner_client.get(url("store-import-template", merchant))
    assert template["Content-Type"] == "text/csv; charset=utf-8"
    assert template["Content-Disposition"] == 'attachment; filename="stores-template.csv"'
    assert template.content.decode().startswith("code,name,address_line1,")
    example = owner_client.get(url("store-import-template", merchant), {"example": 1})
    assert b"PAR-01,Paris Marais" in example.content


def test_import_clean_file_redirects_with_message(owner_client, merchant):
    response = owner_client.post(
        url("store-import", merchant),
        {"file": _upload(b"code,name,country\nP1,Paris,FR\n"), "mode": "all-or-nothing", "next": "/m/alpha/"},
    )
    assert response["Location"] == "/m/alpha/"
    assert Store.objects.filter(merchant=merchant, code="P1").exists()


def test_import_errors_are_shown_in_a_table_and_nothing_written(owner_client, merchant):
    response = owner_client.post(
        url("store-import", merchant),
        {
            "file": _upload(b"code,name,country,latitude,longitude\nP1,Paris,FR,91,2\nP2,,XX,,\n"),
            "mode": "all-or-nothing",
        },
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "Nothing was imported: 3 error(s) in 2 of 2 row(s)." in page
    assert '<td class="num">2</td><td>latitude</td><td><code>91</code></td>' in page
    assert '<td class="num">3</td><td>name</td>' in page
    assert '<td class="num">3</td><td>country</td><td><code>XX</code></td>' in page
    assert not Store.objects.exists()


def test_import_skip_invalid_from_the_page(owner_client, merchant):
    response = owner_client.post(
        url("store-import", merchant),
        {"file": _upload(b"code,name,country\nP1,Paris,FR\nP2,,FR\n"), "mode": "skip-invalid"},
    )
    assert "Import done with errors. 2 row(s) read: 1 created" in response.content.decode()
    assert list(Store.objects.values_list("code", flat=True)) == ["P1"]


def test_import_requires_a_file(owner_client, merchant):
    response = owner_client.post(url("store-import", merchant), {"mode": "all-or-nothing"})
    assert response.context["form"].errors == {"file": ["This field is required."]}


# --- roles ----------------------------------------------------------------------------------

WRITE_PAGES = [
    ("create", "get", "store-create", ()),
    ("create post", "post", "store-create", ()),
    ("edit", "get", "store-update", ("MGR1",)),
    ("edit post", "post", "store-update", ("MGR1",)),
    ("close", "get", "store-close", ("MGR1",)),
    ("close post", "post", "store-close", ("MGR1",)),
    ("reopen", "get", "store-reopen", ("MGR1",)),
    ("reopen post", "post", "store-reopen", ("MGR1",)),
    ("import", "get", "store-import", ()),
    ("import post", "post", "store-import", ()),
]


@pytest.mark.parametrize("actor", ["analyst_client", "store_manager_client"])
@pytest.mark.parametrize(("case", "method", "name", "args"), WRITE_PAGES)
def test_readers_cannot_write(request, merchant, actor, case, method, name, args):
    client = request.getfixturevalue(actor)
    if actor == "analyst_client":
        StoreFactory(merchant=merchant, code="MGR1")
    response = getattr(client, method)(url(name, merchant, *args), FORM if method == "post" else None)
    assert response.status_code == 403, case
    assert AuditEvent.objects.count() == 0


@pytest.mark.parametrize("actor", ["owner_client", "admin_member_client", "analyst_client", "store_manager_client"])
def test_every_role_reads(request, merchant, actor):
    client = request.getfixturevalue(actor)
    store = StoreFactory(merchant=merchant, code="MGR1") if actor != "store_manager_client" else client.managed_store
    assert client.get(url("store-list", merchant)).status_code == 200
    assert client.get(url("store-detail", merchant, store.code)).status_code == 200
    assert client.get(url("store-import-template", merchant)).status_code == 200


def test_anonymous_is_sent_to_login(client, merchant):
    response = client.get(url("store-list", merchant))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
