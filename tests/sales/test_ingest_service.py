"""orders_ingest: outcomes, money, local days, errors, returns, stores, products, updates and query counts."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import Product
from sales.ingest import identity
from sales.ingest.service import IngestContext, orders_ingest
from sales.ingest.types import IdentifierInput
from sales.models import DirtyDay, Order, OrderLine

from ..factories import CategoryFactory, ProductFactory, StoreFactory
from .ingest_builders import email, line, offline, order, phone, refund

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture(params=["postgres", "orm"])
def write_path(request, monkeypatch):
    """Run a test through the PostgreSQL statements and through the portable ORM path (SQLite's)."""
    if request.param == "orm":
        monkeypatch.setattr(identity, "use_postgres", lambda: False)
    return request.param


@pytest.fixture
def paris(merchant):
    return StoreFactory(merchant=merchant, code="PAR-01", name="Paris Marais", country="FR", timezone="Europe/Paris")


@pytest.fixture
def new_york(merchant):
    return StoreFactory(merchant=merchant, code="NYC-01", name="SoHo", country="US", timezone="America/New_York")


def results(outcomes) -> list[tuple[str, str]]:
    return [(outcome.external_id, outcome.result) for outcome in outcomes]


def errors(outcome) -> list[tuple[str, str, str, str]]:
    return [(error.ref, error.column, error.value, error.reason) for error in outcome.errors]


def dirty_days(merchant) -> list[date]:
    return sorted(DirtyDay.objects.for_merchant(merchant).values_list("local_date", flat=True))


# --- outcomes and stored values ----------------------------------------------------------------


def test_new_order_is_created_with_its_lines_and_totals(merchant, paris, write_path):
    # Given an in-store order with a discounted line, a second line, an order discount, tax and shipping
    sent = offline(
        "T-1",
        lines=[line("TEE-1", "2", "19.99", discount=D("4.00"), name="Tee"), line("CAP-1", "1", "15.00", name="Cap")],
        order_discount=D("1.00"),
        tax=D("5.50"),
        shipping=D("4.90"),
    )

    # When it is ingested
    [outcome] = orders_ingest(merchant=merchant, orders=[sent])

    # Then the order and its lines hold the normalised values
    stored = Order.objects.get(pk=outcome.order_id)
    assert (outcome.result, outcome.errors) == ("created", [])
    assert (stored.source, stored.external_id, stored.channel, stored.store_id, stored.customer_id) == (
        "api", "T-1", "offline", paris.pk, None,
    )  # fmt: skip
    assert (stored.local_date, stored.currency, stored.status) == (date(2024, 5, 14), "EUR", "completed")
    assert (stored.gross, stored.discounts, stored.refunds, stored.tax, stored.shipping, stored.net) == (
        D("54.98"), D("5.00"), D("0.00"), D("5.50"), D("4.90"), D("49.98"),
    )  # fmt: skip
    assert list(
        OrderLine.objects.filter(order=stored)
        .order_by("line_number")
        .values_list("line_number", "kind", "product__sku", "quantity", "unit_price", "gross", "discount", "net")
    ) == [
        (1, "sale", "TEE-1", D("2.000"), D("19.99"), D("39.98"), D("4.00"), D("35.98")),
        (2, "sale", "CAP-1", D("1.000"), D("15.00"), D("15.00"), D("0.00"), D("15.00")),
    ]
    assert set(
        OrderLine.objects.filter(order=stored).values_list("merchant_id", "channel", "store_id", "local_date")
    ) == {(merchant.pk, "offline", paris.pk, date(2024, 5, 14))}
    assert dirty_days(merchant) == [date(2024, 5, 14)]


def test_outcomes_come_in_input_order_created_updated_unchanged_error(merchant, write_path):
    # Given two stored orders
    orders_ingest(merchant=merchant, orders=[order("A"), order("B")])

    # When a batch re-sends A unchanged, B changed, a new C, and a bad D
    outcomes = orders_ingest(
        merchant=merchant,
        orders=[order("C"), order("B", lines=[line("TEE-1", "3")]), order("D", currency="USD"), order("A")],
    )

    # Then each order has its own result, in the order sent
    assert results(outcomes) == [("C", "created"), ("B", "updated"), ("D", "error"), ("A", "unchanged")]
    stored = dict(Order.objects.for_merchant(merchant).values_list("external_id", "id"))
    assert [outcome.order_id for outcome in outcomes] == [stored["C"], stored["B"], None, stored["A"]]


def test_money_is_quantised_to_cents_half_up_and_quantities_to_three_decimals(merchant):
    sent = order("Q-1", lines=[line("RICE-1", "1.2345", "19.995", discount=D("0.005"))])

    [outcome] = orders_ingest(merchant=merchant, orders=[sent])

    stored_line = OrderLine.objects.get(order_id=outcome.order_id)
    assert (stored_line.quantity, stored_line.unit_price, stored_line.gross, stored_line.discount, stored_line.net) == (
        D("1.235"), D("20.00"), D("24.70"), D("0.01"), D("24.69"),
    )  # fmt: skip
    assert Order.objects.get(pk=outcome.order_id).net == D("24.69")


# --- local days ------------------------------------------------------------------------------

LOCAL_DAY_CASES = [
    # label, merchant time zone, channel, placed_at (UTC), local day
    ("paris gap day, just after midnight CET", "Europe/Paris", "online", "2024-03-30T23:30:00+00:00", "2024-03-31"),
    ("paris gap day, last minute CEST", "Europe/Paris", "online", "2024-03-31T21:59:00+00:00", "2024-03-31"),
    ("paris gap day + 1, midnight CEST", "Europe/Paris", "online", "2024-03-31T22:30:00+00:00", "2024-04-01"),
    ("paris overlap, first 02:30 (CEST)", "Europe/Paris", "online", "2024-10-27T00:30:00+00:00", "2024-10-27"),
    ("paris overlap, second 02:30 (CET)", "Europe/Paris", "online", "2024-10-27T01:30:00+00:00", "2024-10-27"),
    ("paris overlap, last minute CET", "Europe/Paris", "online", "2024-10-27T22:59:00+00:00", "2024-10-27"),
    ("paris overlap + 1, midnight CET", "Europe/Paris", "online", "2024-10-27T23:00:00+00:00", "2024-10-28"),
    ("new york gap eve, 23:59 EST", "America/New_York", "online", "2024-03-10T04:59:00+00:00", "2024-03-09"),
    ("new york gap day, 00:00 EST", "America/New_York", "online", "2024-03-10T05:00:00+00:00", "2024-03-10"),
    ("new york gap day, 23:59 EDT", "America/New_York", "online", "2024-03-11T03:59:00+00:00", "2024-03-10"),
    ("new york overlap, first 01:30 (EDT)", "America/New_York", "online", "2024-11-03T05:30:00+00:00", "2024-11-03"),
    ("new york overlap, second 01:30 (EST)", "America/New_York", "online", "2024-11-03T06:30:00+00:00", "2024-11-03"),
    ("new york overlap, 23:59 EST", "America/New_York", "online", "2024-11-04T04:59:00+00:00", "2024-11-03"),
    ("new york 23:30 is the next day in UTC", "America/New_York", "online", "2024-06-02T03:30:00+00:00", "2024-06-01"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("tz", "channel", "placed_at", "local_day"),
    [case[1:] for case in LOCAL_DAY_CASES],
    ids=[case[0] for case in LOCAL_DAY_CASES],
)
def test_online_orders_count_on_the_merchants_local_day(merchant, tz, channel, placed_at, local_day):
    merchant.timezone = tz
    merchant.save()

    [outcome] = orders_ingest(merchant=merchant, orders=[order("L-1", placed_at=datetime.fromisoformat(placed_at))])

    stored = Order.objects.get(pk=outcome.order_id)
    assert (stored.placed_at, stored.local_date) == (datetime.fromisoformat(placed_at), date.fromisoformat(local_day))
    assert list(OrderLine.objects.filter(order=stored).values_list("local_date", flat=True)) == [
        date.fromisoformat(local_day)
    ]


def test_offline_orders_count_on_the_stores_local_day_online_on_the_merchants(merchant, new_york):
    # Given a Paris merchant with a New York store, and a sale at 23:30 in New York (03:30 UTC the next day)
    placed_at = datetime.fromisoformat("2024-06-01T23:30:00-04:00")

    # When the same instant comes as an in-store sale in New York and as an online order
    outcomes = orders_ingest(
        merchant=merchant,
        orders=[offline("S-1", store="NYC-01", placed_at=placed_at), order("W-1", placed_at=placed_at)],
    )

    # Then the store sale is on New York's 1 June, the online order on Paris's 2 June (05:30 there)
    assert {
        o.external_id: o.local_date for o in Order.objects.filter(pk__in=[outcome.order_id for outcome in outcomes])
    } == {"S-1": date(2024, 6, 1), "W-1": date(2024, 6, 2)}
    assert dirty_days(merchant) == [date(2024, 6, 1), date(2024, 6, 2)]


def test_an_online_order_may_name_its_fulfilling_store(merchant, new_york):
    [outcome] = orders_ingest(
        merchant=merchant,
        orders=[order("C-1", store="NYC-01", placed_at=datetime.fromisoformat("2024-06-02T03:30:00+00:00"))],
    )

    stored = Order.objects.get(pk=outcome.order_id)
    assert (stored.channel, stored.store_id, stored.local_date) == ("online", new_york.pk, date(2024, 6, 2))


# --- errors ----------------------------------------------------------------------------------

ERROR_CASES = [
    # label, bad order, (column, value, reason)
    (
        "currency mismatch",
        lambda: order("E-1", currency="USD"),
        ("currency", "USD", "currency USD, this merchant sells in EUR"),
    ),
    ("unknown store", lambda: offline("E-1", store="Lyon Part-Dieu"), ("store", "Lyon Part-Dieu", "unknown store")),
    (
        "offline without store",
        lambda: order("E-1", channel="offline"),
        ("store", "", "an in-store (offline) order needs a store"),
    ),
    (
        "negative quantity on a sale",
        lambda: order("E-1", lines=[line(quantity="-1")]),
        ("quantity", "-1", "a sale's quantity must be more than 0"),
    ),
    (
        "zero quantity on a sale",
        lambda: order("E-1", lines=[line(quantity="0")]),
        ("quantity", "0", "a sale's quantity must be more than 0"),
    ),
    (
        "negative price",
        lambda: order("E-1", lines=[line(unit_price="-5.00")]),
        ("unit_price", "-5.00", "the unit price cannot be negative"),
    ),
    (
        "negative discount",
        lambda: order("E-1", lines=[line(discount=D("-1"))]),
        ("discount", "-1", "the discount cannot be negative"),
    ),
    (
        "discount above the line's gross",
        lambda: order("E-1", lines=[line(discount=D("25"))]),
        ("discount", "25", "the discount is more than the line's gross (20.00)"),
    ),
    ("empty lines", lambda: order("E-1", lines=[]), ("lines", "", "an order needs at least one line")),
    ("product-less sale line", lambda: order("E-1", lines=[line(sku="  ")]), ("sku", "  ", "a sale line needs an SKU")),
    (
        "sku with a line break",
        lambda: order("E-1", lines=[line(sku="A\nB")]),
        ("sku", "A\nB", "An SKU cannot contain line breaks, tabs or other control characters."),
    ),
    (
        "positive quantity on a return",
        lambda: order("E-1", lines=[line(quantity="1", kind="return")]),
        ("quantity", "1", "a return's quantity must be 0 or less"),
    ),
    (
        "refund without SKU nor amount",
        lambda: order("E-1", lines=[line(sku="", quantity="0", kind="return")]),
        ("amount", "", "a refund without an SKU needs its amount"),
    ),
    (
        "unknown line kind",
        lambda: order("E-1", lines=[line(kind="exchange")]),
        ("kind", "exchange", "the kind of a line is sale or return"),
    ),
    (
        "unknown channel",
        lambda: order("E-1", channel="phone"),
        ("channel", "phone", "the channel is online or offline"),
    ),
    (
        "unknown status",
        lambda: order("E-1", status="refunded"),
        ("status", "refunded", "the status is one of completed, pending, cancelled"),
    ),
    (
        "naive placed_at",
        lambda: order("E-1", placed_at=datetime(2024, 5, 1, 10)),
        ("placed_at", "2024-05-01T10:00:00", "the date and time has no time zone"),
    ),
    ("quantity not a number", lambda: order("E-1", lines=[line(quantity="NaN")]), ("quantity", "NaN", "not a number")),
    ("empty external id", lambda: order(" "), ("external_id", " ", "the external id is 1 to 128 characters")),
    (
        "unknown identifier kind",
        lambda: order("E-1", identifiers=[email("a@b.co"), IdentifierInput("fax", "1")]),
        ("kind", "fax", "unknown identifier kind (use email, phone, loyalty, pos_customer, account)"),
    ),
]


@pytest.mark.parametrize(
    ("build", "expected"), [case[1:] for case in ERROR_CASES], ids=[case[0] for case in ERROR_CASES]
)
def test_a_bad_order_is_reported_and_not_written_the_good_one_is(merchant, paris, build, expected):
    # Given a batch with a good order and a bad one
    bad = build()

    # When it is ingested (nothing raises)
    good_outcome, bad_outcome = orders_ingest(merchant=merchant, orders=[order("OK-1"), bad])

    # Then the bad order is reported where it is and why, and only the good one is written
    ref = bad.ref
    assert (bad_outcome.result, bad_outcome.order_id) == ("error", None)
    assert errors(bad_outcome) == [(ref, *expected)]
    assert good_outcome.result == "created"
    assert list(Order.objects.for_merchant(merchant).values_list("external_id", flat=True)) == ["OK-1"]
    assert OrderLine.objects.for_merchant(merchant).count() == 1


def test_an_order_with_one_bad_line_is_not_written_at_all(merchant):
    sent = order("H-1", lines=[line("TEE-1"), line("TEE-2"), line("TEE-3", unit_price="-1")])

    [outcome] = orders_ingest(merchant=merchant, orders=[sent])

    assert outcome.result == "error"
    assert (Order.objects.count(), OrderLine.objects.count(), Product.objects.count()) == (0, 0, 0)
    assert DirtyDay.objects.count() == 0


def test_duplicate_external_ids_in_one_call_fail_the_later_ones(merchant):
    outcomes = orders_ingest(
        merchant=merchant,
        orders=[
            order("X-1", ref="row 2"),
            order("X-2", ref="row 3"),
            order("X-1", ref="row 4"),
            order("X-1", ref="row 5"),
        ],
    )

    assert results(outcomes) == [("X-1", "created"), ("X-2", "created"), ("X-1", "error"), ("X-1", "error")]
    assert errors(outcomes[2]) == [("row 4", "external_id", "X-1", "duplicate external id, first at row 2")]
    assert [error.row for error in outcomes[3].errors] == [5]
    assert Order.objects.count() == 2


def test_the_same_external_id_from_two_sources_is_two_orders(merchant):
    outcomes = orders_ingest(merchant=merchant, orders=[order("Z-1"), order("Z-1", source="shopify")])

    assert results(outcomes) == [("Z-1", "created"), ("Z-1", "created")]


def test_line_errors_point_at_the_line(merchant):
    sent = order(
        "P-1", ref="orders[3]", lines=[line(ref="orders[3].lines[0]"), line(quantity="-2", ref="orders[3].lines[1]")]
    )

    [outcome] = orders_ingest(merchant=merchant, orders=[sent])

    assert errors(outcome) == [("orders[3].lines[1]", "quantity", "-2", "a sale's quantity must be more than 0")]


def test_unknown_stores_report_the_names_so_the_caller_can_collect_them(merchant, paris):
    outcomes = orders_ingest(
        merchant=merchant,
        orders=[offline("U-1", store="Lyon"), offline("U-2", store="Nice"), offline("U-3", store="Lyon")],
    )

    assert sorted({e.value for o in outcomes for e in o.errors if e.reason == "unknown store"}) == ["Lyon", "Nice"]


def test_a_currency_given_in_lower_case_or_left_out_is_the_merchants(merchant):
    outcomes = orders_ingest(merchant=merchant, orders=[order("C-1", currency="eur"), order("C-2", currency="")])

    assert results(outcomes) == [("C-1", "created"), ("C-2", "created")]
    assert set(Order.objects.values_list("currency", flat=True)) == {"EUR"}


# --- stores ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "mapping"),
    [
        ("PAR-01", None),
        ("par-01", None),
        ("Paris Marais", None),
        ("  paris MARAIS ", None),
        ("Marais shop", {"Marais shop": "par-01"}),
    ],
    ids=["code", "code in lower case", "name", "name in another case", "through the mapping"],
)
def test_stores_match_by_code_then_name_then_mapping(merchant, paris, given, mapping):
    [outcome] = orders_ingest(merchant=merchant, orders=[offline("M-1", store=given)], store_mapping=mapping)

    assert Order.objects.get(pk=outcome.order_id).store_id == paris.pk


def test_another_merchants_store_is_unknown(merchant, other_merchant):
    StoreFactory(merchant=other_merchant, code="PAR-01", name="Paris Marais")

    [outcome] = orders_ingest(merchant=merchant, orders=[offline("M-1", store="PAR-01")])

    assert errors(outcome) == [("orders[M-1]", "store", "PAR-01", "unknown store")]


# --- returns -----------------------------------------------------------------------------------


def test_a_return_counts_on_its_own_day_and_in_the_orders_refunds(merchant, write_path):
    # Given an order sold on 14 May, with one of its two tees returned on 20 May (22:30 UTC = 00:30 in Paris, 21st)
    returned_at = datetime.fromisoformat("2024-05-20T22:30:00+00:00")
    sent = order(
        "R-1",
        lines=[
            line("TEE-1", "2", "20.00"),
            line("TEE-1", "-1", "20.00", kind="return", occurred_at=returned_at),
        ],
    )

    # When it is ingested
    [outcome] = orders_ingest(merchant=merchant, orders=[sent])

    # Then the return line is negative, on the refund's local day, and the order nets it out
    stored = Order.objects.get(pk=outcome.order_id)
    assert (stored.gross, stored.discounts, stored.refunds, stored.net) == (
        D("40.00"),
        D("0.00"),
        D("20.00"),
        D("20.00"),
    )
    assert list(
        OrderLine.objects.filter(order=stored)
        .order_by("line_number")
        .values_list("kind", "product__sku", "quantity", "gross", "discount", "net", "local_date", "occurred_at")
    ) == [
        ("sale", "TEE-1", D("2.000"), D("40.00"), D("0.00"), D("40.00"), date(2024, 5, 14), sent.placed_at),
        ("return", "TEE-1", D("-1.000"), D("-20.00"), D("0.00"), D("-20.00"), date(2024, 5, 21), returned_at),
    ]
    assert dirty_days(merchant) == [date(2024, 5, 14), date(2024, 5, 21)]


def test_an_order_level_refund_is_a_return_line_without_product(merchant, write_path):
    refunded_at = datetime.fromisoformat("2024-05-16T09:00:00+00:00")
    sent = order("R-2", lines=[line("TEE-1", "1", "30.00"), refund("7.50", occurred_at=refunded_at)])

    [outcome] = orders_ingest(merchant=merchant, orders=[sent])

    stored = Order.objects.get(pk=outcome.order_id)
    assert (stored.gross, stored.refunds, stored.net) == (D("30.00"), D("7.50"), D("22.50"))
    assert OrderLine.objects.filter(order=stored, kind="return").values_list(
        "product_id", "quantity", "unit_price", "net", "local_date"
    ).get() == (None, D("0.000"), D("0.00"), D("-7.50"), date(2024, 5, 16))


def test_a_return_without_amount_gives_back_price_times_quantity_less_its_discount(merchant):
    sent = order("R-3", lines=[line("TEE-1", "-2", "20.00", kind="return", discount=D("5.00"))])

    [outcome] = orders_ingest(merchant=merchant, orders=[sent])

    stored = Order.objects.get(pk=outcome.order_id)
    assert (stored.gross, stored.refunds, stored.net) == (D("0.00"), D("35.00"), D("-35.00"))
    assert OrderLine.objects.get(order=stored).net == D("-35.00")


def test_a_cancelled_order_keeps_its_lines(merchant):
    [outcome] = orders_ingest(merchant=merchant, orders=[order("K-1", status="cancelled")])

    stored = Order.objects.get(pk=outcome.order_id)
    assert (stored.status, stored.net, stored.lines.count()) == ("cancelled", D("20.00"), 1)


# --- products ----------------------------------------------------------------------------------


def test_unknown_skus_become_placeholder_products_known_ones_are_matched(merchant, write_path):
    # Given a known product and a category whose name differs only by case
    ProductFactory(merchant=merchant, sku="TEE-1", name="Classic tee", category=None)
    CategoryFactory(merchant=merchant, name="Tees")

    # When lines name the known SKU and two new ones (one twice)
    orders_ingest(
        merchant=merchant,
        orders=[
            order("P-1", lines=[line("TEE-1", name="Ignored"), line(" NEW-1 ", name="New tee", category="tees")]),
            order("P-2", lines=[line("NEW-1", name="Other name"), line("NEW-2", category="Hats")]),
        ],
    )

    # Then the new SKUs are placeholders (named from the line, or the SKU), the known product is untouched
    assert list(
        Product.objects.for_merchant(merchant)
        .order_by("sku")
        .values_list("sku", "name", "category__name", "is_placeholder", "active")
    ) == [
        ("NEW-1", "New tee", "Tees", True, True),
        ("NEW-2", "NEW-2", "Hats", True, True),
        ("TEE-1", "Classic tee", None, False, True),
    ]
    assert set(OrderLine.objects.values_list("product__sku", flat=True)) == {"TEE-1", "NEW-1", "NEW-2"}


def test_a_context_keeps_skus_between_batches(merchant):
    context = IngestContext(merchant)
    orders_ingest(merchant=merchant, orders=[order("B-1", lines=[line("NEW-1")])], context=context)

    with CaptureQueriesContext(connection) as captured:
        orders_ingest(merchant=merchant, orders=[order("B-2", lines=[line("NEW-1")])], context=context)

    assert not [query for query in captured.captured_queries if "catalog_product" in query["sql"]]
    assert OrderLine.objects.get(order__external_id="B-2").product.sku == "NEW-1"


def test_a_context_belongs_to_one_merchant(merchant, other_merchant):
    with pytest.raises(ValueError, match="one merchant"):
        orders_ingest(merchant=other_merchant, orders=[order()], context=IngestContext(merchant))


# --- updates -----------------------------------------------------------------------------------


def test_a_changed_order_is_updated_its_lines_replaced_and_both_days_marked(merchant, write_path):
    # Given an order of 14 May with two lines
    [first] = orders_ingest(merchant=merchant, orders=[order("U-1", lines=[line("TEE-1", "2"), line("CAP-1")])])
    DirtyDay.objects.all().delete()

    # When it comes again, moved to 16 May with one other line
    [second] = orders_ingest(
        merchant=merchant,
        orders=[
            order(
                "U-1",
                placed_at=datetime.fromisoformat("2024-05-16T10:00:00+00:00"),
                lines=[line("HAT-1", "3", "10.00")],
            )
        ],
    )

    # Then it is the same order, with only the new line, and both days are queued for the rollups
    assert (second.result, second.order_id) == ("updated", first.order_id)
    stored = Order.objects.get(pk=first.order_id)
    assert (stored.local_date, stored.gross, stored.net) == (date(2024, 5, 16), D("30.00"), D("30.00"))
    assert list(stored.lines.values_list("line_number", "product__sku", "quantity", "local_date")) == [
        (1, "HAT-1", D("3.000"), date(2024, 5, 16))
    ]
    assert OrderLine.objects.count() == 1
    assert dirty_days(merchant) == [date(2024, 5, 14), date(2024, 5, 16)]


def test_an_identical_batch_sent_again_only_reads(merchant, paris, django_assert_num_queries):
    # Given a batch already ingested (with customers, stores, products)
    batch = [
        offline("I-1", identifiers=[email("ana@example.com")]),
        order("I-2", lines=[line("TEE-1"), refund("2.00")], identifiers=[phone("+33 6 12 34 56 78")]),
    ]
    orders_ingest(merchant=merchant, orders=batch)
    before = list(Order.objects.order_by("id").values_list("id", "updated_at"))

    # When the same batch comes again: the stores and the stored hashes are read, nothing else
    with CaptureQueriesContext(connection) as captured, django_assert_num_queries(2):
        outcomes = orders_ingest(merchant=merchant, orders=batch)

    # Then nothing is written
    assert results(outcomes) == [("I-1", "unchanged"), ("I-2", "unchanged")]
    assert all(query["sql"].lstrip().upper().startswith("SELECT") for query in captured.captured_queries)
    assert list(Order.objects.order_by("id").values_list("id", "updated_at")) == before


# --- queries per batch -------------------------------------------------------------------------


def _batch(prefix: str, size: int, phone_block: int) -> list:
    """New orders, half in store, each with its own e-mail, pairs sharing a phone, each with a new SKU."""
    return [
        (offline if n % 2 else order)(
            f"{prefix}-{n}",
            **({"store": "PAR-01"} if n % 2 else {}),
            lines=[line(f"{prefix}-SKU-{n}", "2", "10.00"), line("TEE-1"), refund("1.00")],
            identifiers=[
                email(f"{prefix}.{n}@example.com"),
                phone(f"+33 6 {phone_block:02d} 34 {n // 2 // 100:02d} {n // 2 % 100:02d}"),
            ],
            customer_name=f"Shopper {n}",
        )
        for n in range(size)
    ]


@pytest.mark.parametrize("shape", ["new", "changed"])
def test_a_batch_runs_the_same_number_of_queries_for_20_or_200_orders(merchant, paris, shape):
    def ingest(prefix: str, size: int, phone_block: int) -> int:
        batch = _batch(prefix, size, phone_block)
        if shape == "changed":
            orders_ingest(merchant=merchant, orders=batch)
            for sent in batch:
                sent.lines.append(line(f"{prefix}-CAP"))
        with CaptureQueriesContext(connection) as captured:
            outcomes = orders_ingest(merchant=merchant, orders=batch)
        assert {outcome.result for outcome in outcomes} == {"created" if shape == "new" else "updated"}
        return len(captured.captured_queries)

    small, large = ingest("small", 20, 11), ingest("large", 200, 22)

    # Reads: stores, stored orders. Identity: savepoint, lock, identifiers, then insert customers + identifiers
    # (new) or load customers (changed), release. Write: savepoint, customers FOR SHARE, products, placeholders,
    # staging table, COPY orders, [previous versions FOR UPDATE], upsert, [delete replaced lines], COPY lines,
    # dirty days, release.
    assert small == large == (18 if shape == "new" else 19)
    assert OrderLine.objects.for_merchant(merchant).filter(order__external_id__startswith="large-").count() == (
        200 * 3 if shape == "new" else 200 * 4
    )
