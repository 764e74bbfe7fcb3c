"""Shopify's order export: grouping by Name, channels, statuses, discounts, refunds, customers, row errors."""

import dataclasses
import io
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from sales.ingest.types import IdentifierInput, LineInput, OrderInput, RowError
from sales.parsers import parse

from .parser_helpers import csv_bytes, unsaved_merchant

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PARIS_SUMMER = timezone(timedelta(hours=2))
PARIS_WINTER = timezone(timedelta(hours=1))
NEW_YORK_SUMMER = timezone(timedelta(hours=-4))

HEADER = [
    "Name", "Email", "Financial Status", "Currency", "Subtotal", "Shipping", "Taxes", "Total", "Discount Code",
    "Discount Amount", "Created at", "Lineitem quantity", "Lineitem name", "Lineitem price", "Lineitem sku",
    "Billing Name", "Billing Phone", "Cancelled at", "Refunded Amount", "Location", "Id", "Source",
    "Lineitem discount", "Phone",
]  # fmt: skip


_merchant = unsaved_merchant


def _csv(*rows, header=HEADER) -> bytes:
    return csv_bytes(header, rows)


def _parse(data: bytes, **merchant):
    return list(parse(io.BytesIO(data), format=None, merchant=_merchant(**merchant)))


def _first(**values):
    row = {
        "Name": "#1001",
        "Financial Status": "paid",
        "Currency": "USD",
        "Created at": "2026-09-03 10:14:00 -0400",
        "Lineitem quantity": "1",
        "Lineitem name": "Tee",
        "Lineitem price": "20.00",
        "Lineitem sku": "TEE-1",
        "Source": "web",
    }
    row.update(values)
    return row


def _line(**values):
    row = {"Name": "#1001", "Lineitem quantity": "1", "Lineitem name": "Mug", "Lineitem price": "8.00"}
    row.update(values)
    return row


def test_the_example_export_reads_as_online_and_pos_orders():
    # Given the example export (online, POS, click-and-collect, refund, discounts, cancelled, pending)
    with open(EXAMPLES / "shopify-orders.csv", "rb") as file:
        # When it is parsed for the demo brand (EUR)
        run = parse(file, format=None, merchant=_merchant("EUR", "Europe/Paris"))
        items = list(run)

    # Then five orders come out, in file order, with the right channel, store and status
    assert run.format == "shopify-orders"
    assert [(o.external_id, o.channel, o.store, o.status, o.ref) for o in items] == [
        ("5512345678901", "online", None, "completed", "rows 2-3"),
        ("5512345678902", "offline", "Paris Marais", "completed", "rows 4-5"),
        ("5512345678903", "online", "Lyon Presqu'île", "cancelled", "rows 6-7"),
        ("5512345678904", "online", None, "pending", "row 8"),
        ("5512345678905", "offline", "Lyon Presqu'île", "completed", "rows 9-11"),
    ]
    # And the first order is complete: lines, discounts counted once, identifiers, customer
    assert items[0] == OrderInput(
        source="shopify",
        external_id="5512345678901",
        channel="online",
        placed_at=datetime(2026, 9, 3, 10, 14, tzinfo=PARIS_SUMMER),
        currency="EUR",
        store=None,
        status="completed",
        lines=[
            LineInput(
                sku="TSH-ORG-M-WHT",
                quantity=Decimal("2"),
                unit_price=Decimal("29.90"),
                discount=Decimal("5.98"),
                name="Organic cotton T-shirt - white / M",
                ref="row 2",
            ),
            LineInput(
                sku="BAG-TOT-NAT",
                quantity=Decimal("1"),
                unit_price=Decimal("19.00"),
                discount=Decimal("0.00"),
                name="Tote bag in recycled canvas",
                ref="row 3",
            ),
        ],
        order_discount=Decimal("0"),
        tax=Decimal("12.95"),
        shipping=Decimal("4.90"),
        identifiers=[
            IdentifierInput(kind="email", value="camille.martin@example.fr", ref="row 2"),
            IdentifierInput(kind="phone", value="+33 6 12 34 56 78", ref="row 2"),
            IdentifierInput(kind="phone", value="06 12 34 56 78", ref="row 2"),
        ],
        customer_name="Camille Martin",
        customer_email="camille.martin@example.fr",
        ref="rows 2-3",
    )
    # And the POS order's partial refund is an order-level return line on the order's day
    assert items[1].order_discount == Decimal("10.00")
    assert items[1].lines[-1] == LineInput(
        sku="",
        quantity=Decimal("0"),
        unit_price=Decimal("0"),
        kind="return",
        name="Refund",
        occurred_at=datetime(2026, 9, 3, 15, 42, 10, tzinfo=PARIS_SUMMER),
        amount=Decimal("29.90"),
        ref="row 4",
    )
    # And a line without SKU gets a stable derived SKU; Discount Amount minus line discounts is the order's
    assert items[2].lines[1].sku == "SHOPIFY-GIFT-WRAPPING"
    assert items[2].placed_at == datetime(2026, 10, 26, 9, 5, tzinfo=PARIS_WINTER)
    assert items[4].order_discount == Decimal("5.00")
    assert [line.discount for line in items[4].lines] == [Decimal("0.00"), Decimal("3.00"), Decimal("0.00")]


@pytest.mark.parametrize(
    ("case", "values", "expected_status"),
    [
        ("paid", {}, "completed"),
        ("partially refunded", {"Financial Status": "partially_refunded"}, "completed"),
        ("pending", {"Financial Status": "pending"}, "pending"),
        ("authorized", {"Financial Status": "authorized"}, "pending"),
        ("voided", {"Financial Status": "voided"}, "cancelled"),
        ("cancelled at", {"Cancelled at": "2026-09-04 08:00:00 -0400"}, "cancelled"),
    ],
)
def test_status_from_financial_status_and_cancelled_at(case, values, expected_status):
    [order] = _parse(_csv(_first(**values)))
    assert order.status == expected_status


def test_pos_orders_are_offline_at_their_location_and_online_orders_may_name_a_fulfilling_store():
    # Given a POS order, a web order fulfilled by a store, and a web order without location
    data = _csv(
        _first(Name="#1", Source="pos", Location="Brooklyn"),
        _first(Name="#2", Source="web", Location="Brooklyn"),
        _first(Name="#3", Source="shopify_draft_order"),
    )
    # When parsed
    orders = _parse(data)
    # Then
    assert [(o.external_id, o.channel, o.store) for o in orders] == [
        ("#1", "offline", "Brooklyn"),
        ("#2", "online", "Brooklyn"),
        ("#3", "online", None),
    ]


def test_a_pos_order_without_location_is_an_error():
    assert _parse(_csv(_first(Source="pos"))) == [
        RowError(
            ref="row 2",
            column="Location",
            value="",
            reason="a Shopify POS order (Source pos) needs its Location (the store)",
            row=2,
        )
    ]


def test_id_is_the_external_id_when_present_else_name():
    # Given an older export without the Id column, and a recent one with it
    old = _csv(_first(), header=[column for column in HEADER if column != "Id"])
    recent = _csv(_first(Id="5512345678901"))
    # Then
    assert [order.external_id for order in _parse(old)] == ["#1001"]
    assert [order.external_id for order in _parse(recent)] == ["5512345678901"]


def test_order_discount_is_discount_amount_minus_line_discounts_never_below_zero():
    data = _csv(
        _first(**{"Discount Amount": "12.00", "Lineitem discount": "2.00"}),
        _line(**{"Lineitem discount": "3.00"}),
        _first(Name="#1002", **{"Discount Amount": "1.00", "Lineitem discount": "4.00"}),
    )
    first, second = _parse(data)
    assert first.order_discount == Decimal("7.00")
    assert [line.discount for line in first.lines] == [Decimal("2.00"), Decimal("3.00")]
    assert second.order_discount == Decimal("0")


def test_customer_identifiers_and_name():
    data = _csv(
        _first(
            Email=" Ann@Example.com ",
            Phone="+1 718 555 0100",
            **{"Billing Phone": "+1 718 555 0100", "Billing Name": "Ann Lee"},
        )
    )
    [order] = _parse(data)
    assert order.identifiers == [
        IdentifierInput(kind="email", value="Ann@Example.com", ref="row 2"),
        IdentifierInput(kind="phone", value="+1 718 555 0100", ref="row 2"),
    ]
    assert (order.customer_name, order.customer_email) == ("Ann Lee", "Ann@Example.com")


def test_formula_like_text_is_kept_verbatim():
    [order] = _parse(_csv(_first(**{"Lineitem name": '=HYPERLINK("http://evil.example","click")'})))
    assert order.lines[0].name == '=HYPERLINK("http://evil.example","click")'


def test_value_errors_name_row_column_value_and_reason_and_leave_the_whole_order_out():
    # Given an order whose second line has a bad amount, then a good order
    data = _csv(
        _first(),
        _line(**{"Lineitem price": "12,5O", "Lineitem quantity": "-2"}),
        _first(Name="#1002", Id=""),
    )
    # When parsed
    items = _parse(data)
    # Then both errors of row 3 are reported, #1001 is left out whole and #1002 comes through
    assert items[:2] == [
        RowError(
            ref="row 3", column="Lineitem quantity", value="-2", reason="a sold quantity must be more than 0", row=3
        ),
        RowError(
            ref="row 3",
            column="Lineitem price",
            value="12,5O",
            reason="not a number (write it like 12.50: digits, a dot for decimals)",
            row=3,
        ),
    ]
    assert [item.external_id for item in items[2:]] == ["#1002"]


@pytest.mark.parametrize(
    ("case", "values", "column", "reason"),
    [
        ("no offset", {"Created at": "2026-09-03 10:14:00"}, "Created at", "the date and time has no UTC offset"),
        ("not a date", {"Created at": "yesterday"}, "Created at", "not a date and time"),
        ("empty date", {"Created at": ""}, "Created at", "a value is required on the first row of an order"),
        ("currency", {"Currency": "dollars"}, "Currency", "not a currency code"),
        ("taxes", {"Taxes": "N/A"}, "Taxes", "not a number"),
        ("negative shipping", {"Shipping": "-1.00"}, "Shipping", "cannot be negative"),
        ("quantity", {"Lineitem quantity": "one"}, "Lineitem quantity", "not a number"),
        ("no sku no name", {"Lineitem sku": "", "Lineitem name": ""}, "Lineitem sku", "a line item needs"),
        ("long sku", {"Lineitem sku": "X" * 65}, "Lineitem sku", "an SKU has at most 64 characters"),
        ("nan", {"Lineitem price": "NaN"}, "Lineitem price", "not a number"),
    ],
)
def test_first_row_value_errors(case, values, column, reason):
    [error] = _parse(_csv(_first(**values)))
    assert (error.row, error.column) == (2, column)
    assert error.reason.startswith(reason)


def test_an_order_whose_rows_are_not_consecutive_is_an_error():
    # Given #1001's second line after #1002
    data = _csv(_first(), _first(Name="#1002"), _line(Name="#1001"))
    # When parsed
    items = _parse(data)
    # Then the first part and #1002 come through, and the stray row is refused (it would overwrite #1001)
    assert [item.external_id for item in items[:2]] == ["#1001", "#1002"]
    assert items[2:] == [
        RowError(
            ref="row 4",
            column="Name",
            value="#1001",
            reason="order #1001 already appeared at row 2: the rows of one order must be consecutive",
            row=4,
        )
    ]


def test_unknown_columns_are_ignored_and_columns_match_by_name_in_any_order():
    header = ["Lineitem sku", "Some App Column", "Created at", "Lineitem price", "Name", "Currency"]
    header += ["Lineitem quantity", "Lineitem name"]
    [order] = _parse(_csv(_first(), header=header))
    assert (order.external_id, order.lines[0].sku, order.lines[0].unit_price) == ("#1001", "TEE-1", Decimal("20.00"))


def test_a_trailing_row_of_empty_cells_is_ignored():
    data = _csv(_first()) + b"," * (len(HEADER) - 1) + b"\n"
    assert [order.external_id for order in _parse(data)] == ["#1001"]


def test_positional_construction_matches_the_types_field_order():
    # The hot path builds OrderInput and LineInput positionally: pin the field order it relies on.
    assert [f.name for f in dataclasses.fields(OrderInput)] == [
        "source", "external_id", "channel", "placed_at", "currency", "store", "status", "lines",
        "order_discount", "tax", "shipping", "identifiers", "customer_name", "customer_email", "ref",
    ]  # fmt: skip
    assert [f.name for f in dataclasses.fields(LineInput)] == [
        "sku", "quantity", "unit_price", "discount", "kind", "name", "category", "occurred_at", "amount", "ref",
    ]  # fmt: skip
    assert [f.name for f in dataclasses.fields(IdentifierInput)] == ["kind", "value", "ref"]


def test_new_york_offsets_are_kept():
    [order] = _parse(_csv(_first()))
    assert order.placed_at == datetime(2026, 9, 3, 10, 14, tzinfo=NEW_YORK_SUMMER)


def test_a_refund_counts_at_most_the_merchandise_value():
    # Given a fully refunded order: 2 × 20.00 − 5.00 discount, plus 4.00 shipping and 3.00 tax refunded too
    data = _csv(
        _first(
            **{
                "Lineitem quantity": "2",
                "Discount Amount": "5.00",
                "Shipping": "4.00",
                "Taxes": "3.00",
                "Refunded Amount": "42.00",
                "Financial Status": "refunded",
            }
        )
    )
    [order] = _parse(data)
    # Then the return line gives back the merchandise only (35.00), so net sales end at zero, not below
    assert (order.lines[-1].kind, order.lines[-1].amount) == ("return", Decimal("35.00"))
