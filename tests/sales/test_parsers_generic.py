"""NewRetail's generic CSV and JSON lines formats: the documented examples, strict validation, returns."""

import io
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from sales.ingest.types import IdentifierInput, LineInput, OrderInput, RowError
from sales.parsers import parse

from .parser_helpers import unsaved_merchant

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CEST = timezone(timedelta(hours=2))
HEADER = "order_id,placed_at,channel,store,kind,sku,quantity,unit_price,line_discount,returned_at,customer_email\n"


def _merchant():
    return unsaved_merchant("EUR", "Europe/Paris", name="Maison Alpha", slug="alpha")


def _parse(data: bytes, format=None):  # noqa: A002
    return list(parse(io.BytesIO(data), format=format, merchant=_merchant()))


def _jsonl(*orders) -> bytes:
    return "".join(json.dumps(order) + "\n" for order in orders).encode()


def _order(**values):
    order = {
        "order_id": "W-1",
        "placed_at": "2026-09-03T10:14:00+02:00",
        "channel": "online",
        "lines": [{"sku": "TEE", "quantity": 1, "unit_price": "29.90"}],
    }
    order.update(values)
    return order


def test_the_csv_and_jsonl_examples_give_the_same_orders():
    # Given the two documented examples (the same five orders)
    with open(EXAMPLES / "sales-generic.csv", "rb") as file:
        from_csv = list(parse(file, format=None, merchant=_merchant()))
    with open(EXAMPLES / "sales-generic.jsonl", "rb") as file:
        from_jsonl = list(parse(file, format=None, merchant=_merchant()))
    # Then both read without errors, to the same orders (sources and refs aside)
    assert all(isinstance(order, OrderInput) for order in from_csv + from_jsonl)
    assert [o.external_id for o in from_csv] == ["W-20001", "PAR01-000412", "W-20002", "W-20003", "LYO01-000087"]
    assert [(o.external_id, o.channel, o.store, o.status) for o in from_csv] == [
        (o.external_id, o.channel, o.store, o.status) for o in from_jsonl
    ]
    assert [[(line.sku, line.kind, line.quantity, line.unit_price) for line in o.lines] for o in from_csv] == [
        [(line.sku, line.kind, line.quantity, line.unit_price) for line in o.lines] for o in from_jsonl
    ]
    assert {o.source for o in from_csv} == {"csv"}
    assert {o.source for o in from_jsonl} == {"jsonl"}
    # And the in-store order with its return reads exactly
    assert from_csv[1] == OrderInput(
        source="csv",
        external_id="PAR01-000412",
        channel="offline",
        placed_at=datetime(2026, 9, 3, 15, 42, 10, tzinfo=CEST),
        currency="EUR",
        store="PAR-01",
        lines=[
            LineInput(
                sku="SWT-MER-M-GRY",
                quantity=Decimal("1"),
                unit_price=Decimal("89.00"),
                name="Merino crew-neck sweater, grey, M",
                category="Knitwear",
                ref="row 4",
            ),
            LineInput(
                sku="TSH-ORG-S-WHT",
                quantity=Decimal("1"),
                unit_price=Decimal("29.90"),
                name="Organic cotton T-shirt, white, S",
                category="T-shirts",
                ref="row 5",
            ),
            LineInput(
                sku="TSH-ORG-S-WHT",
                quantity=Decimal("-1"),
                unit_price=Decimal("29.90"),
                kind="return",
                name="Organic cotton T-shirt, white, S",
                category="T-shirts",
                occurred_at=datetime(2026, 9, 10, 11, 20, tzinfo=CEST),
                ref="row 6",
            ),
        ],
        order_discount=Decimal("10.00"),
        tax=Decimal("18.15"),
        identifiers=[IdentifierInput(kind="email", value="j.dupont@example.com", ref="row 4")],
        customer_name="Jean Dupont",
        customer_email="j.dupont@example.com",
        ref="rows 4-6",
    )


def test_csv_header_problems_are_one_error_naming_the_columns():
    data = b"order_id,placed_at,channel,colour\nW-1,2026-09-03T10:14:00+02:00,online,red\n"
    assert _parse(data) == [
        RowError(
            ref="row 1",
            column="",
            value="order_id,placed_at,channel,colour",
            reason="The header row does not fit the format “NewRetail generic CSV”: missing required column(s): "
            "sku, quantity, unit_price; unknown column(s): colour.",
            row=1,
        )
    ]


@pytest.mark.parametrize(
    ("case", "row", "column", "value", "reason"),
    [
        (
            "naive date",
            "W-1,2026-09-03 10:14,online,,sale,TEE,1,29.90,,,",
            "placed_at",
            "2026-09-03 10:14",
            "the date and time has no UTC offset (add one, like 2026-09-03T10:14:00-04:00 or ...Z)",
        ),
        (
            "channel",
            "W-1,2026-09-03T10:14:00Z,web,,sale,TEE,1,29.90,,,",
            "channel",
            "web",
            "expected one of: online, offline",
        ),
        (
            "offline without store",
            "W-1,2026-09-03T10:14:00Z,offline,,sale,TEE,1,29.90,,,",
            "store",
            "",
            "an in-store (offline) order needs its store (code or name)",
        ),
        ("missing sku", "W-1,2026-09-03T10:14:00Z,online,,sale,,1,29.90,,,", "sku", "", "a value is required"),
        (
            "amount",
            "W-1,2026-09-03T10:14:00Z,online,,sale,TEE,1,29.9O,,,",
            "unit_price",
            "29.9O",
            "not a number (write it like 12.50: digits, a dot for decimals)",
        ),
        (
            "negative sale",
            "W-1,2026-09-03T10:14:00Z,online,,sale,TEE,-1,29.90,,,",
            "quantity",
            "-1",
            "a sold quantity must be more than 0 (a return is a row with kind 'return')",
        ),
        (
            "negative price",
            "W-1,2026-09-03T10:14:00Z,online,,sale,TEE,1,-2,,,",
            "unit_price",
            "-2",
            "cannot be negative",
        ),
        (
            "returned_at on a sale",
            "W-1,2026-09-03T10:14:00Z,online,,sale,TEE,1,29.90,,2026-09-04T10:00:00Z,",
            "returned_at",
            "2026-09-04T10:00:00Z",
            "only a return (kind 'return') has a returned_at",
        ),
        (
            "discount above gross",
            "W-1,2026-09-03T10:14:00Z,online,,sale,TEE,1,29.90,30.00,,",
            "line_discount",
            "30.00",
            "the discount is larger than the line's amount",
        ),
        (
            "kind",
            "W-1,2026-09-03T10:14:00Z,online,,refund,TEE,1,29.90,,,",
            "kind",
            "refund",
            "expected one of: sale, return",
        ),
    ],
)
def test_csv_value_errors_name_the_column(case, row, column, value, reason):
    assert _parse((HEADER + row + "\n").encode()) == [
        RowError(ref="row 2", column=column, value=value, reason=reason, row=2)
    ]


def test_csv_order_columns_on_later_rows_must_match_the_first_row():
    data = (
        HEADER
        + "W-1,2026-09-03T10:14:00Z,online,,sale,TEE,1,29.90,,,a@example.com\n"
        + "W-1,,online,,sale,MUG,1,9.00,,,\n"
        + "W-1,,offline,PAR-01,sale,CAP,1,9.00,,,\n"
    ).encode()
    assert _parse(data) == [
        RowError(
            ref="row 4",
            column="channel",
            value="offline",
            reason="differs from the order's first row (row 2: 'online'); leave it empty or repeat the same value",
            row=4,
        ),
        RowError(
            ref="row 4",
            column="store",
            value="PAR-01",
            reason="differs from the order's first row (row 2: ''); leave it empty or repeat the same value",
            row=4,
        ),
    ]


def test_csv_return_quantities_are_stored_negative_whichever_sign_is_written():
    data = (
        HEADER
        + "W-1,2026-09-03T10:14:00Z,online,,return,TEE,2,29.90,,2026-09-10T09:00:00Z,\n"
        + "W-1,,,,return,MUG,-1,9.00,,,\n"
    ).encode()
    [order] = _parse(data)
    assert [(line.quantity, line.occurred_at) for line in order.lines] == [
        (Decimal("-2"), datetime(2026, 9, 10, 9, 0, tzinfo=UTC)),
        (Decimal("-1"), datetime(2026, 9, 3, 10, 14, tzinfo=UTC)),
    ]


def test_jsonl_reads_nested_customer_and_lines_with_exact_decimals():
    data = _jsonl(
        _order(
            store="PAR-01",
            tax=2.35,
            customer={"email": "a@example.com", "loyalty_number": "L-1", "name": "Ann"},
            lines=[{"sku": "TEE", "quantity": 1.5, "unit_price": 0.1, "line_discount": "0.05"}],
        )
    )
    [order] = _parse(data)
    assert order.tax == Decimal("2.35")
    assert order.lines == [
        LineInput(
            sku="TEE",
            quantity=Decimal("1.5"),
            unit_price=Decimal("0.1"),
            discount=Decimal("0.05"),
            ref="row 1, lines[0]",
        )
    ]
    assert order.identifiers == [
        IdentifierInput(kind="email", value="a@example.com", ref="row 1"),
        IdentifierInput(kind="loyalty", value="L-1", ref="row 1"),
    ]
    assert (order.customer_name, order.store, order.source) == ("Ann", "PAR-01", "jsonl")


def test_jsonl_accepts_the_api_spellings():
    data = _jsonl(
        {
            "external_id": "W-9",
            "placed_at": "2026-09-03T08:14:00Z",
            "channel": "online",
            "source": "woocommerce",
            "lines": [{"sku": "TEE", "name": "Tee", "quantity": 1, "unit_price": "10", "discount": "1"}],
        }
    )
    [order] = _parse(data)
    assert (order.external_id, order.source, order.lines[0].name, order.lines[0].discount) == (
        "W-9",
        "woocommerce",
        "Tee",
        Decimal("1"),
    )


def test_jsonl_errors_name_the_field_path_and_the_line():
    data = (
        _jsonl(
            _order(),
            _order(
                order_id="W-2",
                colour="red",
                customer={"email": "a@example.com", "twitter": "@a"},
                lines=[{"sku": "TEE", "quantiy": 1, "unit_price": "x"}, "oops"],
            ),
        )
        + b'{"order_id": "W-3", "placed_at": \n[1, 2]\n'
    )
    items = _parse(data)
    assert items[0].external_id == "W-1"
    assert [(error.row, error.column, error.reason) for error in items[1:]] == [
        (2, "colour", "unknown field"),
        (2, "customer.twitter", "unknown field"),
        (2, "lines[0].quantiy", "unknown field"),
        (2, "lines[0].quantity", "a value is required"),
        (2, "lines[0].unit_price", "not a number (write it like 12.50: digits, a dot for decimals)"),
        (2, "lines[1]", "expected an object (a line item)"),
        (3, "", "not valid JSON: Expecting value (at character 34)"),
        (4, "", "each line must be one JSON object (an order)"),
    ]


def test_jsonl_order_without_lines_and_bad_types():
    data = _jsonl(_order(lines=[]), _order(order_id="W-2", placed_at=20260903, customer="ann"))
    assert [(error.row, error.column, error.reason) for error in _parse(data)] == [
        (1, "lines", "an order needs at least one line"),
        (2, "customer", "expected an object"),
        (2, "placed_at", "expected a date and time as text, like 2026-03-14T15:02:00+01:00"),
    ]


def test_a_csv_file_given_as_jsonl_says_so():
    data = (HEADER + "W-1,2026-09-03T10:14:00Z,online,,sale,TEE,1,29.90,,,\n").encode()
    items = _parse(data, format="generic-jsonl")
    assert items[0] == RowError(
        ref="row 1",
        column="",
        value=HEADER.strip(),
        reason="not a JSON lines file: each line must be one JSON object (an order)",
        row=1,
    )


def test_duplicate_order_ids_in_jsonl_are_errors_on_the_later_line():
    items = _parse(_jsonl(_order(), _order()))
    assert items[1] == RowError(
        ref="row 2",
        column="order_id",
        value="W-1",
        reason="order W-1 already appeared at row 1: the rows of one order must be consecutive",
        row=2,
    )


def test_csv_rows_without_order_id_hold_the_order_back_and_blank_rows_are_skipped():
    data = (
        HEADER
        + "W-1,2026-09-03T10:14:00Z,online,,sale,TEE,1,29.90,,,\n"
        + ",,,,sale,MUG,1,9.00,,,\n"
        + ",,,,,,,,,,\n"
        + "W-2,2026-09-03T10:14:00Z,online,,sale,TEE,1,29.90,,,\n"
    ).encode()
    items = _parse(data)
    assert items[0] == RowError(
        ref="row 3",
        column="order_id",
        value="",
        reason="a value is required on every row (an order's rows repeat it)",
        row=3,
    )
    assert [item.external_id for item in items[1:]] == ["W-2"]
