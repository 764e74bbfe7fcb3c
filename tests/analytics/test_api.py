"""The analytics API: figures equal to the oracle, bounded queries, errors in the one format, scope, tenancy."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from analytics.filters import Compare
from analytics.services import rollups_refresh
from merchants.models import ApiScope
from merchants.services import api_key_create

from . import oracle
from .conftest import make_filters
from .oracle import OrderGenerator, dataset_create, ingest

pytestmark = pytest.mark.django_db

SUMMARY = "/api/v1/analytics/summary/"
TIMESERIES = "/api/v1/analytics/timeseries/"
STORES = "/api/v1/analytics/stores/"
PRODUCTS = "/api/v1/analytics/products/"
RANGE = {"from": "2024-03-28", "to": "2024-04-03"}


@pytest.fixture
def small_dataset(merchant):
    data = dataset_create(merchant)
    generator = OrderGenerator(data, seed=11)
    ingest(merchant, generator.days(date(2024, 3, 14), date(2024, 4, 5), per_day=3))
    rollups_refresh(merchant_id=merchant.pk)
    return data


@pytest.fixture
def no_sales(merchant):
    """The stores and catalogue of the dataset, without sales: enough for the errors."""
    return dataset_create(merchant)


def key_client(merchant, scopes=(ApiScope.ANALYTICS_READ,)) -> APIClient:
    """A key whose ``last_used_at`` is fresh, so a request's queries are the endpoint's own."""
    api_key, raw = api_key_create(merchant=merchant, name="analytics", scopes=list(scopes))
    api_key.last_used_at = timezone.now()
    api_key.save(update_fields=["last_used_at"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def errors_of(response) -> list[tuple[str, str | None]]:
    body = response.json()
    assert set(body) == {"type", "errors"}, body
    return [(error["code"], error["attr"]) for error in body["errors"]]


def decoded(body: dict, kpis) -> dict:
    """The body's KPI fields as numbers (money, shares and units come as decimal strings, counts as integers)."""
    result = {}
    for name, value in kpis.__dict__.items():
        sent = body[name]
        assert isinstance(sent, int if isinstance(value, int) else str | None), (name, sent)
        result[name] = Decimal(sent) if isinstance(sent, str) else sent
    return result


def test_summary_equals_the_oracle_with_its_comparison(small_dataset, django_assert_num_queries):
    merchant = small_dataset.merchant
    client = key_client(merchant)
    filters = make_filters(merchant, date(2024, 3, 28), date(2024, 4, 3), channel="offline")
    expected = oracle.summary(oracle.entries(merchant), filters)

    # the key, then per period: sales, work_mem for the customer query, customers
    with django_assert_num_queries(1 + 2 * 3):
        response = client.get(SUMMARY, {**RANGE, "channel": "offline"})

    assert response.status_code == 200
    body = response.json()
    assert decoded(body, expected.current) == expected.current.__dict__
    assert decoded(body["comparison"], expected.comparison) == expected.comparison.__dict__
    assert body["merchant"] == {"slug": "alpha", "name": "Maison Alpha", "currency": "EUR", "timezone": "Europe/Paris"}
    assert body["filters"] == {
        "date_from": "2024-03-28",
        "date_to": "2024-04-03",
        "preset": "custom",
        "channel": "offline",
        "stores": None,
        "region": None,
        "category": None,
        "compare": "previous",
        "comparison_from": "2024-03-21",
        "comparison_to": "2024-03-27",
    }
    assert expected.current.orders > 0


def test_summary_with_stores_and_category_and_no_comparison(small_dataset, django_assert_num_queries):
    merchant = small_dataset.merchant
    client = key_client(merchant)
    filters = make_filters(
        merchant,
        date(2024, 3, 28),
        date(2024, 4, 3),
        store_ids=frozenset({small_dataset.stores["PAR-01"].pk, small_dataset.stores["NYC-01"].pk}),
        category_id=small_dataset.categories["Tops"].pk,
        compare=Compare.NONE,
    )
    expected = oracle.summary(oracle.entries(merchant), filters)

    # key, stores, category, then sales, work_mem, customers
    with django_assert_num_queries(6):
        response = client.get(SUMMARY, {**RANGE, "store": ["par-01", "NYC-01"], "category": "tops", "compare": "none"})

    body = response.json()
    assert response.status_code == 200, body
    assert decoded(body, expected.current) == expected.current.__dict__
    assert body["comparison"] is None
    assert (body["filters"]["stores"], body["filters"]["category"]) == (["NYC-01", "PAR-01"], "tops")


@pytest.mark.parametrize(
    ("params", "queries", "expected_args"),
    [
        ({"metric": "net_sales"}, 2, ("net_sales", "day", "channel")),
        ({"metric": "customers", "interval": "week", "group_by": "store"}, 3, ("customers", "week", "store")),
        ({"metric": "orders", "interval": "month", "group_by": "category"}, 3, ("orders", "month", "category")),
        ({"metric": "average_order_value", "group_by": "none"}, 2, ("average_order_value", "day", None)),
    ],
)
def test_timeseries_equals_the_oracle(small_dataset, django_assert_num_queries, params, queries, expected_args):
    merchant = small_dataset.merchant
    client = key_client(merchant)
    filters = make_filters(merchant, date(2024, 3, 28), date(2024, 4, 3))
    points = oracle.timeseries(oracle.entries(merchant), filters, *expected_args)

    with django_assert_num_queries(queries):
        response = client.get(TIMESERIES, {**RANGE, **params})

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["metric"], body["interval"], body["group_by"]) == expected_args
    assert [(point["period"], point["group"], Decimal(point["value"])) for point in body["points"]] == [
        (point.period.isoformat(), point.group, point.value) for point in points
    ]


def test_stores_equal_the_oracle(small_dataset, django_assert_num_queries):
    merchant = small_dataset.merchant
    client = key_client(merchant)
    filters = make_filters(merchant, date(2024, 3, 28), date(2024, 4, 3))
    expected = oracle.stores(oracle.entries(merchant), filters)

    with django_assert_num_queries(3):
        response = client.get(STORES, RANGE)

    assert response.status_code == 200
    rows = response.json()["results"]
    assert [
        (row["code"], Decimal(row["net_sales"]), row["orders"], Decimal(row["comparison_net_sales"])) for row in rows
    ] == [(row.code, row.net_sales, row.orders, row.comparison_net_sales) for row in expected]
    assert [Decimal(row["online_fulfilled_sales"]) for row in rows] == [row.online_fulfilled_sales for row in expected]
    assert len(rows) == 4


def test_products_page_equals_the_oracle(small_dataset, django_assert_num_queries):
    merchant = small_dataset.merchant
    client = key_client(merchant)
    filters = make_filters(merchant, date(2024, 3, 1), date(2024, 4, 3), channel="online")
    expected = oracle.products(oracle.entries(merchant), filters)[2:5]

    # key, work_mem, the page of products, their SKUs and names
    with django_assert_num_queries(4):
        response = client.get(PRODUCTS, {"from": "2024-03-01", "to": "2024-04-03", "channel": "online", "limit": 3,
                                          "offset": 2})  # fmt: skip

    assert response.status_code == 200
    body = response.json()
    assert (body["limit"], body["offset"]) == (3, 2)
    assert [
        (row["rank"], row["sku"], Decimal(row["net_sales"]), Decimal(row["online_net_sales"]))
        for row in body["results"]
    ] == [(row.rank, row.sku, row.net_sales, row.online_net_sales) for row in expected]


@pytest.mark.parametrize(
    ("_case", "url", "params", "attr"),
    [
        ("bad_date", SUMMARY, {"from": "2024-13-01", "to": "2024-04-01"}, "from"),
        ("to_before_from", SUMMARY, {"from": "2024-04-02", "to": "2024-04-01"}, "to"),
        ("from_without_to", SUMMARY, {"from": "2024-04-02"}, "to"),
        ("unknown_preset", SUMMARY, {"preset": "forever"}, "preset"),
        ("unknown_channel", STORES, {"channel": "phone"}, "channel"),
        ("unknown_store", SUMMARY, {"store": ["PAR-01", "ZZZ-9"]}, "store"),
        ("unknown_region", SUMMARY, {"region": "Atlantis"}, "region"),
        ("unknown_category", PRODUCTS, {"category": "Hats"}, "category"),
        ("unknown_compare", SUMMARY, {"compare": "yesterday"}, "compare"),
        ("unknown_metric", TIMESERIES, {"metric": "profit"}, "metric"),
        ("unknown_interval", TIMESERIES, {"interval": "hour"}, "interval"),
        ("unknown_group_by", TIMESERIES, {"group_by": "weather"}, "group_by"),
        ("limit_too_big", PRODUCTS, {"limit": "5000"}, "limit"),
        ("daily_points_for_3_years", TIMESERIES, {"from": "2021-01-01", "to": "2023-12-31"}, "interval"),
    ],
)
def test_bad_filters_answer_400_naming_the_parameter(no_sales, _case, url, params, attr):
    response = key_client(no_sales.merchant).get(url, params)

    assert response.status_code == 400
    assert errors_of(response) == [("invalid", attr)]


def test_the_unknown_store_error_names_the_code(no_sales):
    response = key_client(no_sales.merchant).get(SUMMARY, {"store": "ZZZ-9"})

    assert response.json()["errors"][0]["detail"] == "Unknown store code(s): ZZZ-9."


def test_a_key_without_the_scope_is_refused(no_sales):
    client = key_client(no_sales.merchant, scopes=[ApiScope.SALES_READ])

    response = client.get(SUMMARY)

    assert response.status_code == 403
    assert "analytics:read" in response.json()["errors"][0]["detail"]


def test_another_merchants_key_sees_only_its_own_figures(small_dataset, other_merchant):
    client = key_client(other_merchant)

    summary = client.get(SUMMARY, RANGE).json()
    stores = client.get(STORES, RANGE).json()
    products = client.get(PRODUCTS, RANGE).json()
    foreign_store = client.get(SUMMARY, {**RANGE, "store": "PAR-01"})

    assert (summary["net_sales"], summary["orders"], summary["customers"]) == ("0.00", 0, 0)
    assert stores["results"] == products["results"] == []
    assert foreign_store.status_code == 400  # another merchant's store is unknown, like a missing one
    assert errors_of(foreign_store) == [("invalid", "store")]


def test_the_schema_documents_the_filters_and_their_errors(client):
    schema = client.get("/api/schema/?format=json").json()
    for path in (SUMMARY, TIMESERIES, STORES, PRODUCTS):
        operation = schema["paths"][path]["get"]
        names = {parameter["name"] for parameter in operation["parameters"]}
        assert {"from", "to", "preset", "channel", "store", "region", "category", "compare"} <= names
        assert "400" in operation["responses"]
        assert "Scope: `analytics:read`" in operation["description"]
    summary = schema["components"]["schemas"]["SummaryResponse"]
    required = {"net_sales", "gross_sales", "discounts", "refunds", "orders", "average_order_value", "units",
                "customers", "returning_customers", "omnichannel_customers", "online_share", "comparison"}  # fmt: skip
    assert required <= set(summary["properties"])
