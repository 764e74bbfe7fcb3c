"""/api/v1/stores/: list with filters and pagination, create, retrieve, PUT/PATCH, close; tenancy and audit."""

from datetime import date

import pytest
from django.urls import reverse

from merchants.models import ApiScope, AuditAction, AuditEvent
from stores.models import Store, StoreStatus

from ..factories import StoreFactory
from .conftest import errors_of

pytestmark = pytest.mark.django_db

LIST_URL = "/api/v1/stores/"

NEW_STORE = {
    "code": "par-01",
    "name": "Paris Marais",
    "address_line1": "12 rue des Francs-Bourgeois",
    "city": "Paris",
    "region": "Île-de-France",
    "postal_code": "75004",
    "country": "fr",
    "latitude": "48.8577",
    "longitude": "2.3589",
    "timezone": "europe/paris",
    "opening_hours": {"sat": ["14:00-20:00", "10:00-13:00"], "mon": ["10:00-19:00"]},
    "opened_on": "2019-04-01",
}


def detail_url(code: str) -> str:
    return f"/api/v1/stores/{code}/"


def test_url_names_match_the_paths():
    assert reverse("api:store-list") == LIST_URL
    assert reverse("api:store-detail", kwargs={"code": "PAR-01"}) == "/api/v1/stores/PAR-01/"
    assert reverse("api:store-close", kwargs={"code": "PAR-01"}) == "/api/v1/stores/PAR-01/close/"


# --- reads ------------------------------------------------------------------------------------


def test_list_returns_own_stores_ordered_by_code_with_every_field(fresh_key, merchant, other_merchant):
    # Given two stores of the merchant and one of another merchant
    StoreFactory(merchant=merchant, code="B-2", name="Bordeaux", city="Bordeaux", region="Nouvelle-Aquitaine")
    StoreFactory(
        merchant=merchant,
        code="A-1",
        name="Annecy",
        city="Annecy",
        region="Auvergne-Rhône-Alpes",
        latitude="45.899247",
        longitude="6.129384",
        opened_on=date(2020, 1, 15),
    )
    StoreFactory(merchant=other_merchant, code="A-0", name="Not mine")

    # When the partner lists stores
    response = fresh_key.get(LIST_URL)

    # Then only the merchant's stores come back, paginated, with decimal strings for coordinates
    assert response.status_code == 200
    body = response.json()
    assert (body["count"], body["next"], body["previous"]) == (2, None, None)
    assert [store["code"] for store in body["results"]] == ["A-1", "B-2"]
    first = body["results"][0]
    assert set(first) == {
        "code",
        "name",
        "address_line1",
        "address_line2",
        "city",
        "region",
        "postal_code",
        "country",
        "latitude",
        "longitude",
        "timezone",
        "opening_hours",
        "opened_on",
        "status",
        "closed_on",
        "created_at",
        "updated_at",
    }
    assert (first["country"], first["latitude"], first["longitude"]) == ("FR", "45.899247", "6.129384")
    assert (first["timezone"], first["opened_on"], first["status"], first["closed_on"]) == (
        "Europe/Paris",
        "2020-01-15",
        "active",
        None,
    )
    assert first["opening_hours"] == {"mon": ["09:00-19:00"], "sat": ["10:00-18:00"]}


def test_list_query_count_does_not_grow_with_rows(fresh_key, merchant, django_assert_num_queries):
    StoreFactory.create_batch(3, merchant=merchant)
    # key lookup, count, page
    with django_assert_num_queries(3):
        response = fresh_key.get(LIST_URL)
    assert response.json()["count"] == 3
    StoreFactory.create_batch(5, merchant=merchant)
    with django_assert_num_queries(3):
        response = fresh_key.get(LIST_URL)
    assert len(response.json()["results"]) == 8


@pytest.mark.parametrize(
    ("_case", "query", "expected"),
    [
        ("status", "status=closed", ["C-3"]),
        ("country, any case", "country=de", ["B-2"]),
        ("region, case-insensitive", "region=île-de-france", ["A-1", "C-3"]),
        ("search in code", "search=b-2", ["B-2"]),
        ("search in name", "search=MARAIS", ["A-1"]),
        ("search in city", "search=berl", ["B-2"]),
        ("combined", "country=FR&status=active", ["A-1"]),
        ("nothing", "search=zzz", []),
    ],
)
def test_list_filters(api_client, merchant, _case, query, expected):
    StoreFactory(merchant=merchant, code="A-1", name="Paris Marais", city="Paris", region="Île-de-France")
    StoreFactory(merchant=merchant, code="B-2", name="Mitte", city="Berlin", region="Berlin", country="DE")
    StoreFactory(
        merchant=merchant,
        code="C-3",
        name="Lyon",
        city="Lyon",
        region="Île-de-France",
        status=StoreStatus.CLOSED,
        closed_on=date(2023, 1, 1),
    )
    response = api_client.get(f"{LIST_URL}?{query}")
    assert response.status_code == 200
    assert [store["code"] for store in response.json()["results"]] == expected


def test_list_rejects_an_unknown_status_in_the_error_format(api_client):
    response = api_client.get(f"{LIST_URL}?status=gone")
    assert response.status_code == 400
    assert response.json()["type"] == "validation_error"
    assert errors_of(response) == [("invalid_choice", "status")]


def test_list_is_paginated(api_client, merchant):
    StoreFactory.create_batch(5, merchant=merchant)
    response = api_client.get(f"{LIST_URL}?page_size=2&page=2")
    body = response.json()
    assert body["count"] == 5
    assert len(body["results"]) == 2
    assert body["next"] == "http://testserver/api/v1/stores/?page=3&page_size=2"
    assert body["previous"] == "http://testserver/api/v1/stores/?page_size=2"
    beyond = api_client.get(f"{LIST_URL}?page=9")
    assert beyond.status_code == 404
    assert errors_of(beyond) == [("not_found", None)]


def test_retrieve_by_code_case_insensitively(fresh_key, merchant, django_assert_num_queries):
    StoreFactory(merchant=merchant, code="PAR-01", name="Paris")
    StoreFactory(merchant=merchant, code="PAR-02", name="Paris 2")
    with django_assert_num_queries(2):  # key, store
        response = fresh_key.get(detail_url("par-01"))
    assert response.status_code == 200
    assert (response.json()["code"], response.json()["name"]) == ("PAR-01", "Paris")


def test_another_merchants_store_is_404_like_a_missing_one(api_client, other_merchant):
    StoreFactory(merchant=other_merchant, code="THEIRS")
    theirs = api_client.get(detail_url("THEIRS"))
    missing = api_client.get(detail_url("NOPE"))
    assert theirs.status_code == missing.status_code == 404
    assert (
        theirs.json()
        == missing.json()
        == {
            "type": "client_error",
            "errors": [{"code": "not_found", "detail": "Not found.", "attr": None}],
        }
    )


# --- writes -----------------------------------------------------------------------------------


def test_create_normalises_and_answers_201_with_location(api_client, merchant):
    response = api_client.post(LIST_URL, NEW_STORE, format="json")

    assert response.status_code == 201, response.json()
    assert response["Location"] == "http://testserver/api/v1/stores/PAR-01/"
    body = response.json()
    assert (body["code"], body["country"], body["timezone"]) == ("PAR-01", "FR", "Europe/Paris")
    assert (body["latitude"], body["longitude"]) == ("48.857700", "2.358900")
    assert body["opening_hours"] == {
        "mon": ["10:00-19:00"],
        "tue": [],
        "wed": [],
        "thu": [],
        "fri": [],
        "sat": ["10:00-13:00", "14:00-20:00"],
        "sun": [],
    }
    store = Store.objects.get(merchant=merchant, code="PAR-01")
    assert (store.name, store.status, store.opened_on) == ("Paris Marais", "active", date(2019, 4, 1))


def test_create_writes_an_audit_row_naming_the_key(api_client, merchant):
    api_client.post(LIST_URL, NEW_STORE, format="json")
    event = AuditEvent.objects.get(action=AuditAction.STORE_CREATED)
    assert (event.merchant, event.actor, event.api_key, event.target) == (merchant, None, api_client.api_key, "PAR-01")
    assert event.actor_label == f"API key {api_client.api_key}"


def test_create_defaults_timezone_to_the_merchants(api_client, merchant):
    payload = {"code": "LON", "name": "London", "country": "GB"}
    response = api_client.post(LIST_URL, payload, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["timezone"] == merchant.timezone == "Europe/Paris"


@pytest.mark.parametrize(
    ("_case", "change", "expected"),
    [
        ("missing name", {"name": None}, [("null", "name")]),
        ("bad code", {"code": "PAR 01"}, [("invalid_store_code", "code")]),
        ("bad country", {"country": "Atlantis"}, [("invalid_country", "country")]),
        ("bad time zone", {"timezone": "Mars/Olympus"}, [("invalid_timezone", "timezone")]),
        ("latitude out of range", {"latitude": "91"}, [("max_value", "latitude")]),
        (
            "overlapping hours",
            {"opening_hours": {"mon": ["09:00-12:00", "11:00-19:00"]}},
            [("invalid_hours", "opening_hours")],
        ),
        ("unknown weekday", {"opening_hours": {"monday": ["09:00-12:00"]}}, [("invalid_hours", "opening_hours")]),
        ("hours not a list", {"opening_hours": {"mon": "09:00-12:00"}}, [("invalid", "opening_hours")]),
        ("only latitude", {"longitude": None}, [("invalid", "longitude")]),
        ("not a date", {"opened_on": "01/04/2019"}, [("invalid", "opened_on")]),
    ],
)
def test_create_reports_each_invalid_field(api_client, _case, change, expected):
    response = api_client.post(LIST_URL, {**NEW_STORE, **change}, format="json")
    assert response.status_code == 400
    assert response.json()["type"] == "validation_error"
    assert errors_of(response) == expected
    assert not Store.objects.exists()


def test_create_refuses_an_existing_code_whatever_its_case(api_client, merchant, other_merchant):
    StoreFactory(merchant=merchant, code="PAR-01")
    StoreFactory(merchant=other_merchant, code="LYO-01")  # another merchant's code is free
    response = api_client.post(LIST_URL, NEW_STORE, format="json")
    assert response.status_code == 400
    assert errors_of(response) == [("unique", "code")]
    assert response.json()["errors"][0]["detail"] == "A store with code PAR-01 already exists."
    assert api_client.post(LIST_URL, {**NEW_STORE, "code": "lyo-01"}, format="json").status_code == 201


def test_put_replaces_the_store_and_keeps_the_code(api_client, merchant):
    store = StoreFactory(merchant=merchant, code="PAR-01", name="Old", address_line2="Floor 2", postal_code="75001")
    payload = {**NEW_STORE, "code": "IGNORED", "name": "New name"}
    del payload["postal_code"]

    response = api_client.put(detail_url("PAR-01"), payload, format="json")

    assert response.status_code == 200, response.json()
    store.refresh_from_db()
    assert (store.code, store.name, store.address_line2, store.postal_code) == ("PAR-01", "New name", "", "")
    assert store.opening_hours["sat"] == ["10:00-13:00", "14:00-20:00"]
    event = AuditEvent.objects.get(action=AuditAction.STORE_UPDATED)
    assert event.api_key == api_client.api_key
    assert sorted(event.data["changed"]) == sorted(
        ["name", "address_line1", "address_line2", "postal_code", "latitude", "longitude", "opening_hours", "opened_on"]
    )


def test_put_requires_the_required_fields(api_client, merchant):
    StoreFactory(merchant=merchant, code="PAR-01")
    response = api_client.put(detail_url("PAR-01"), {"name": "Only a name"}, format="json")
    assert response.status_code == 400
    assert errors_of(response) == [("required", "country"), ("required", "timezone")]


def test_patch_changes_only_the_fields_sent(api_client, merchant):
    store = StoreFactory(merchant=merchant, code="PAR-01", name="Old", postal_code="75001")
    response = api_client.patch(detail_url("par-01"), {"name": "Renamed"}, format="json")
    assert response.status_code == 200
    store.refresh_from_db()
    assert (store.name, store.postal_code, store.opening_hours) == (
        "Renamed",
        "75001",
        {"mon": ["09:00-19:00"], "sat": ["10:00-18:00"]},
    )


def test_patch_status_active_reopens_a_closed_store(api_client, merchant):
    store = StoreFactory(merchant=merchant, code="OLD", status=StoreStatus.CLOSED, closed_on=date(2023, 5, 1))
    response = api_client.patch(detail_url("OLD"), {"status": "active"}, format="json")
    assert response.status_code == 200, response.json()
    store.refresh_from_db()
    assert (store.status, store.closed_on) == ("active", None)


def test_close_marks_the_store_closed_and_keeps_it(api_client, merchant):
    store = StoreFactory(merchant=merchant, code="PAR-01", opened_on=date(2019, 1, 1))
    response = api_client.post(f"{detail_url('PAR-01')}close/", {"closed_on": "2024-06-30"}, format="json")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["closed_on"]) == ("closed", "2024-06-30")
    store.refresh_from_db()
    assert (store.status, store.closed_on) == (StoreStatus.CLOSED, date(2024, 6, 30))
    event = AuditEvent.objects.get(action=AuditAction.STORE_CLOSED)
    assert (event.api_key, event.target) == (api_client.api_key, "PAR-01")


def test_close_without_body_closes_today_and_refuses_a_future_date(api_client, merchant):
    StoreFactory(merchant=merchant, code="A")
    StoreFactory(merchant=merchant, code="B")
    assert api_client.post(f"{detail_url('A')}close/").json()["status"] == "closed"
    future = api_client.post(f"{detail_url('B')}close/", {"closed_on": "2999-01-01"}, format="json")
    assert future.status_code == 400
    assert errors_of(future) == [("invalid", "closed_on")]
    assert Store.objects.get(code="B").status == "active"


def test_delete_is_not_offered_stores_are_closed_instead(api_client, merchant):
    StoreFactory(merchant=merchant, code="PAR-01")
    response = api_client.delete(detail_url("PAR-01"))
    assert response.status_code == 405
    assert errors_of(response) == [("method_not_allowed", None)]
    assert response.json()["errors"][0]["detail"] == 'Method "DELETE" not allowed.'
    assert "DELETE" not in response["Allow"]
    assert Store.objects.filter(code="PAR-01").exists()


@pytest.mark.parametrize("method", ["put", "patch", "post"])
def test_writes_to_another_merchants_store_are_404_and_change_nothing(api_client, other_merchant, method):
    store = StoreFactory(merchant=other_merchant, code="THEIRS", name="Theirs")
    url = detail_url("THEIRS") + ("close/" if method == "post" else "")
    response = getattr(api_client, method)(url, {**NEW_STORE, "name": "Hijacked"}, format="json")
    assert response.status_code == 404
    store.refresh_from_db()
    assert (store.name, store.status) == ("Theirs", "active")
    assert not AuditEvent.objects.filter(action__startswith="store.").exists()


# --- scopes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("_case", "scopes", "method", "path", "status_code"),
    [
        ("read with read", [ApiScope.STORES_READ], "get", LIST_URL, 200),
        ("read detail with read", [ApiScope.STORES_READ], "get", detail_url("PAR-01"), 200),
        ("read with catalog only", [ApiScope.CATALOG_READ], "get", LIST_URL, 403),
        ("create with read only", [ApiScope.STORES_READ], "post", LIST_URL, 403),
        ("update with read only", [ApiScope.STORES_READ], "patch", detail_url("PAR-01"), 403),
        ("close with read only", [ApiScope.STORES_READ], "post", detail_url("PAR-01") + "close/", 403),
        ("create with write", [ApiScope.STORES_WRITE], "post", LIST_URL, 201),
        ("read with write only", [ApiScope.STORES_WRITE], "get", LIST_URL, 403),
    ],
)
def test_scope_matrix(make_api_client, merchant, _case, scopes, method, path, status_code):
    StoreFactory(merchant=merchant, code="PAR-01")
    client = make_api_client(merchant, scopes)
    payload = {**NEW_STORE, "code": "NEW-1"} if method == "post" else {"name": "x"}
    response = getattr(client, method)(path, payload, format="json")
    assert response.status_code == status_code, response.json()
    if status_code == 403:
        needed = "stores:write" if method != "get" else "stores:read"
        assert response.json()["errors"] == [
            {"code": "permission_denied", "detail": f"This API key lacks the scope(s): {needed}.", "attr": None}
        ]
