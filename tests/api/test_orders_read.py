"""GET /api/v1/orders/ and GET /api/v1/orders/{source}/{external_id}/."""

from urllib.parse import parse_qs, urlparse

import pytest
from django.urls import reverse

from merchants.models import ApiScope

from ..factories import StoreFactory
from .conftest import errors_of
from .orders_helpers import LIST_URL, online_order, order, post_batch, results_of, sale

pytestmark = pytest.mark.django_db


@pytest.fixture
def stores(merchant):
    return (
        StoreFactory(merchant=merchant, code="PAR-01", timezone="Europe/Paris"),
        StoreFactory(merchant=merchant, code="NYC-01", timezone="America/New_York", country="US"),
    )


@pytest.fixture
def sent(api_client, stores):
    """Four orders of merchant "alpha" (EUR, Europe/Paris), sent through the batch endpoint."""
    batch = [
        order(
            "PAR-1",
            lines=[
                sale("TEE-1", "2", "19.90", discount="1.00"),
                sale("TEE-1", "-1", "19.90", kind="return", returned_at="2024-05-06T10:00:00+02:00"),
            ],
            order_discount="2.00",
            customer={"loyalty_number": "LOY-1"},
        ),
        # 01:30 in Paris is 19:30 the day before in New York: the local day is the store's
        order("NYC-1", store="nyc-01", placed_at="2024-05-05T01:30:00+02:00", tax="0.00"),
        # 22:30 UTC is 00:30 the next day in Paris: an online order counts on the merchant's day
        online_order("WEB-1", placed_at="2024-05-04T22:30:00Z"),
        online_order("WEB-2", placed_at="2024-05-06T09:00:00Z", store="NYC-01", customer=None),
    ]
    assert [r[2] for r in results_of(post_batch(api_client, batch))] == ["created"] * 4
    return batch


def by_id(response) -> dict:
    return {item["external_id"]: item for item in response.json()["results"]}


def test_an_order_reads_back_with_local_times_and_decimal_strings(fresh_key, sent, django_assert_num_queries):
    # When the in-store Paris order is read
    with django_assert_num_queries(3):  # key, order (+ store), lines (+ products)
        response = fresh_key.get("/api/v1/orders/api/PAR-1/")

    # Then it has its local time, its money as decimal strings and its lines
    assert response.status_code == 200
    body = response.json()
    customer = body.pop("customer")
    assert isinstance(customer, str)
    assert customer.isdigit()
    assert body == {
        "source": "api",
        "external_id": "PAR-1",
        "channel": "offline",
        "store": "PAR-01",
        "placed_at": "2024-05-04T15:42:10+02:00",
        "local_date": "2024-05-04",
        "status": "completed",
        "currency": "EUR",
        "gross": "39.80",
        "discounts": "3.00",
        "refunds": "19.90",
        "tax": "8.63",
        "shipping": "0.00",
        "net": "16.90",
        "lines": [
            {
                "line_number": 1,
                "kind": "sale",
                "sku": "TEE-1",
                "quantity": "2.000",
                "unit_price": "19.90",
                "gross": "39.80",
                "discount": "1.00",
                "net": "38.80",
                "local_date": "2024-05-04",
            },
            {
                "line_number": 2,
                "kind": "return",
                "sku": "TEE-1",
                "quantity": "-1.000",
                "unit_price": "19.90",
                "gross": "-19.90",
                "discount": "0.00",
                "net": "-19.90",
                "local_date": "2024-05-06",
            },
        ],
    }


def test_local_time_is_the_stores_offline_and_the_merchants_online(api_client, sent):
    orders = by_id(api_client.get(LIST_URL))
    assert (orders["NYC-1"]["placed_at"], orders["NYC-1"]["local_date"], orders["NYC-1"]["store"]) == (
        "2024-05-04T19:30:00-04:00",
        "2024-05-04",
        "NYC-01",
    )
    assert (orders["WEB-1"]["placed_at"], orders["WEB-1"]["local_date"], orders["WEB-1"]["store"]) == (
        "2024-05-05T00:30:00+02:00",
        "2024-05-05",
        None,
    )
    # an online order fulfilled by a store still counts on the merchant's day, and shows its store
    assert (orders["WEB-2"]["placed_at"], orders["WEB-2"]["store"], orders["WEB-2"]["customer"]) == (
        "2024-05-06T11:00:00+02:00",
        "NYC-01",
        None,
    )
    assert orders["WEB-1"]["source"] == "shopify"


def test_the_list_has_lines_and_no_n_plus_one(fresh_key, sent, django_assert_num_queries):
    with django_assert_num_queries(3):  # key, orders (+ stores), lines (+ products)
        response = fresh_key.get(LIST_URL)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"next", "previous", "results"}
    assert [o["external_id"] for o in body["results"]] == ["PAR-1", "WEB-1", "NYC-1", "WEB-2"]  # by placed_at
    assert [len(o["lines"]) for o in body["results"]] == [2, 1, 2, 1]


def test_cursor_pagination_walks_three_pages_without_gaps(fresh_key, sent, django_assert_num_queries):
    # Given a fifth order placed at the same instant as another one (ties are broken by id)
    assert results_of(post_batch(fresh_key, [online_order("WEB-3", placed_at="2024-05-06T09:00:00Z")]))[0][2] == (
        "created"
    )
    seen, url, pages = [], f"{LIST_URL}?page_size=2", 0
    while url:
        with django_assert_num_queries(3):
            response = fresh_key.get(url)
        assert response.status_code == 200
        body = response.json()
        seen += [o["external_id"] for o in body["results"]]
        url = body["next"]
        pages += 1
        if url:
            assert "cursor" in parse_qs(urlparse(url).query)
    assert pages == 3
    assert seen == ["PAR-1", "WEB-1", "NYC-1", "WEB-2", "WEB-3"]


@pytest.mark.parametrize(
    ("case", "query", "expected"),
    [
        ("after, inclusive", "placed_at_after=2024-05-04T22:30:00Z", ["WEB-1", "NYC-1", "WEB-2"]),
        ("after, with an offset", "placed_at_after=2024-05-05T00:30:01%2B02:00", ["NYC-1", "WEB-2"]),
        ("before, exclusive", "placed_at_before=2024-05-04T22:30:00Z", ["PAR-1"]),
        ("range", "placed_at_after=2024-05-04T00:00:00Z&placed_at_before=2024-05-04T23:00:00Z", ["PAR-1", "WEB-1"]),
        ("channel", "channel=offline", ["PAR-1", "NYC-1"]),
        ("store, any case", "store=nyc-01", ["NYC-1", "WEB-2"]),
        ("source", "source=shopify", ["WEB-1", "WEB-2"]),
        ("nothing matches", "source=square", []),
    ],
)
def test_filters(api_client, sent, case, query, expected):
    response = api_client.get(f"{LIST_URL}?{query}")
    assert response.status_code == 200, response.json()
    assert [o["external_id"] for o in response.json()["results"]] == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("placed_at_after=2024-05-04T00:00:00", [("naive_datetime", "placed_at_after")]),
        ("placed_at_before=yesterday", [("invalid", "placed_at_before")]),
        ("channel=web", [("invalid_choice", "channel")]),
    ],
)
def test_bad_filters_answer_400(api_client, sent, query, expected):
    response = api_client.get(f"{LIST_URL}?{query}")
    assert response.status_code == 400
    assert errors_of(response) == expected


def test_an_external_id_with_url_characters_is_reachable_percent_encoded(api_client, stores):
    external_id = "#1042/A:b c%?"
    results_of(post_batch(api_client, [online_order(external_id)]))

    url = reverse("api:order-detail", kwargs={"source": "shopify", "external_id": external_id})
    assert url == "/api/v1/orders/shopify/%231042/A:b%20c%25%3F/"
    for path in (url, "/api/v1/orders/shopify/%231042%2FA%3Ab%20c%25%3F/"):
        response = api_client.get(path)
        assert response.status_code == 200, path
        assert response.json()["external_id"] == external_id


def test_a_missing_order_answers_404(api_client, sent):
    response = api_client.get("/api/v1/orders/api/NOPE/")
    assert response.status_code == 404
    assert errors_of(response) == [("not_found", None)]
    assert api_client.get("/api/v1/orders/shopify/PAR-1/").status_code == 404  # the id exists under another source


def test_another_merchants_orders_are_invisible(other_api_client, sent):
    assert other_api_client.get("/api/v1/orders/api/PAR-1/").status_code == 404
    response = other_api_client.get(LIST_URL)
    assert response.status_code == 200
    assert response.json()["results"] == []


@pytest.mark.parametrize(
    ("case", "scopes", "status"),
    [
        ("read scope", [ApiScope.SALES_READ], 200),
        ("write scope only", [ApiScope.SALES_WRITE], 403),
        ("other scopes", [ApiScope.STORES_READ, ApiScope.CATALOG_READ], 403),
    ],
)
@pytest.mark.parametrize("path", [LIST_URL, "/api/v1/orders/api/PAR-1/"])
def test_reads_need_sales_read(make_api_client, merchant, sent, case, scopes, status, path):
    response = make_api_client(merchant, scopes).get(path)
    assert response.status_code == status
    if status == 403:
        assert response.json()["errors"][0]["detail"] == "This API key lacks the scope(s): sales:read."


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_reads_are_read_only(api_client, sent, method):
    assert getattr(api_client, method)("/api/v1/orders/api/PAR-1/", {}, format="json").status_code == 405
    assert getattr(api_client, method)(LIST_URL, {}, format="json").status_code == 405
