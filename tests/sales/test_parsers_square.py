"""Square's items export: transactions and refunds, Rails time zones, money with symbols, SKU-less items."""

import io
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from sales.ingest.types import IdentifierInput, LineInput, OrderInput, RowError
from sales.parsers import parse

from .parser_helpers import csv_bytes, unsaved_merchant

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NEW_YORK = ZoneInfo("America/New_York")
PARIS = ZoneInfo("Europe/Paris")

HEADER = [
    "Date", "Time", "Time Zone", "Category", "Item", "Qty", "Price Point Name", "SKU", "Gross Sales", "Discounts",
    "Net Sales", "Tax", "Transaction ID", "Event Type", "Location", "Customer ID", "Customer Name",
    "Customer Reference ID", "Channel",
]  # fmt: skip


_merchant = unsaved_merchant


def _csv(*rows, header=HEADER) -> bytes:
    return csv_bytes(header, rows, lineterminator="\r\n")


def _row(**values):
    row = {
        "Date": "2026-07-18",
        "Time": "12:59:30",
        "Time Zone": "Eastern Time (US & Canada)",
        "Category": "Coffee",
        "Item": "Latte",
        "Qty": "1",
        "Price Point Name": "Large",
        "SKU": "LAT-L",
        "Gross Sales": "$5.00",
        "Discounts": "$0.00",
        "Net Sales": "$5.00",
        "Tax": "$0.40",
        "Transaction ID": "T1",
        "Event Type": "Payment",
        "Location": "Brooklyn",
        "Channel": "Point of Sale",
    }
    row.update(values)
    return row


def _parse(data: bytes, **merchant):
    return list(parse(io.BytesIO(data), format=None, merchant=_merchant(**merchant)))


def test_the_example_export():
    # Given the example Square export of the demo brand (EUR, Paris)
    with open(EXAMPLES / "square-items.csv", "rb") as file:
        run = parse(file, format=None, merchant=_merchant("EUR", "Europe/Paris"))
        items = list(run)
    # Then every transaction is an order, the refund its own order, Square Online an online order
    assert run.format == "square-items"
    assert [(o.external_id, o.channel, o.store, len(o.lines), o.ref) for o in items] == [
        ("8Qm2xVtY3aZ1", "offline", "Paris Saint-Germain", 2, "rows 2-3"),
        ("Zr5nQ0wLk2Pd", "offline", "Paris Saint-Germain", 2, "rows 4-5"),
        ("Zr5nQ0wLk2Pd:refund", "offline", "Paris Saint-Germain", 1, "row 6"),
        ("Hk8sW4uJ9bXe", "online", "Paris Marais", 1, "row 7"),
        ("Vn3cR7tG1mQa", "offline", "Paris Marais", 1, "row 8"),
    ]
    assert items[0] == OrderInput(
        source="square",
        external_id="8Qm2xVtY3aZ1",
        channel="offline",
        placed_at=datetime(2026, 9, 5, 11, 2, 47, tzinfo=PARIS),
        currency="EUR",
        store="Paris Saint-Germain",
        lines=[
            LineInput(
                sku="TSH-ORG-M-WHT",
                quantity=Decimal("2"),
                unit_price=Decimal("29.90"),
                discount=Decimal("5.98"),
                name="Organic cotton T-shirt (white / M)",
                category="T-shirts",
                ref="row 2",
            ),
            LineInput(
                sku="SQ-RIBBON-BY-THE-METRE",
                quantity=Decimal("1.5"),
                unit_price=Decimal("4"),
                discount=Decimal("0"),
                name="Ribbon by the metre",
                category="Accessories",
                ref="row 3",
            ),
        ],
        tax=Decimal("9.97"),
        identifiers=[
            IdentifierInput(kind="pos_customer", value="CUS-4F1A9", ref="row 2"),
            IdentifierInput(kind="loyalty", value="FID-000123", ref="row 2"),
        ],
        customer_name="Camille Martin",
        ref="rows 2-3",
    )
    assert items[2].lines == [
        LineInput(
            sku="SWT-MER-L-GRY",
            quantity=Decimal("-1"),
            unit_price=Decimal("89.00"),
            discount=Decimal("0"),
            kind="return",
            name="Merino crew-neck sweater (grey / L)",
            category="Knitwear",
            occurred_at=datetime(2026, 9, 12, 10, 15, 30, tzinfo=PARIS),
            amount=Decimal("89.00"),
            ref="row 6",
        )
    ]
    assert items[2].placed_at == datetime(2026, 9, 12, 10, 15, 30, tzinfo=PARIS)


@pytest.mark.parametrize(
    ("case", "gross", "discounts", "net", "unit_price", "discount"),
    [
        ("plain", "$8.00", "$0.00", "$8.00", Decimal("8.00"), Decimal("0")),
        ("thousands", "$1,250.00", "-$50.00", "$1,200.00", Decimal("1250.00"), Decimal("50.00")),
        ("accounting negative discount", "$20.00", "($2.50)", "$17.50", Decimal("20.00"), Decimal("2.50")),
        ("sign after symbol", "$20.00", "$-2.50", "$17.50", Decimal("20.00"), Decimal("2.50")),
        ("no symbol", "20", "0", "20", Decimal("20"), Decimal("0")),
    ],
)
def test_money_formats(case, gross, discounts, net, unit_price, discount):
    [order] = _parse(_csv(_row(**{"Gross Sales": gross, "Discounts": discounts, "Net Sales": net})))
    assert (order.lines[0].unit_price, order.lines[0].discount) == (unit_price, discount)


def test_unit_price_is_gross_over_quantity_and_quantities_may_be_fractional():
    data = _csv(
        _row(Qty="3", **{"Gross Sales": "$10.00", "Net Sales": "$10.00"}),
        _row(Qty="0.5", SKU="BEANS", **{"Gross Sales": "$9.00", "Net Sales": "$9.00"}),
    )
    [order] = _parse(data)
    assert [(line.quantity, line.unit_price) for line in order.lines] == [
        (Decimal("3"), Decimal("3.3333")),
        (Decimal("0.5"), Decimal("18")),
    ]


@pytest.mark.parametrize(
    ("case", "zone_name", "date", "expected_zone"),
    [
        ("eastern", "Eastern Time (US & Canada)", "2026-07-18", "America/New_York"),
        ("pacific", "Pacific Time (US & Canada)", "2026-07-18", "America/Los_Angeles"),
        ("beijing", "Beijing", "2026-07-18", "Asia/Shanghai"),
        ("london", "London", "2026-07-18", "Europe/London"),
        ("tokyo", "Tokyo", "2026-07-18", "Asia/Tokyo"),
        ("iana name", "Europe/Paris", "2026-07-18", "Europe/Paris"),
        ("picker form", "(GMT-05:00) Eastern Time (US & Canada)", "2026-07-18", "America/New_York"),
        ("US date", "Eastern Time (US & Canada)", "07/18/2026", "America/New_York"),
    ],
)
def test_dates_times_and_rails_time_zones(case, zone_name, date, expected_zone):
    [order] = _parse(_csv(_row(**{"Time Zone": zone_name, "Date": date})))
    assert order.placed_at == datetime(2026, 7, 18, 12, 59, 30, tzinfo=ZoneInfo(expected_zone))


def test_without_a_time_zone_column_the_merchant_time_zone_is_used():
    header = [column for column in HEADER if column != "Time Zone"]
    [order] = _parse(_csv(_row(), header=header), tz="Europe/Paris")
    assert order.placed_at == datetime(2026, 7, 18, 12, 59, 30, tzinfo=PARIS)


def test_unknown_time_zone_is_an_error_naming_it():
    assert _parse(_csv(_row(**{"Time Zone": "Narnia Time"}))) == [
        RowError(ref="row 2", column="Time Zone", value="Narnia Time", reason="unknown time zone 'Narnia Time'", row=2)
    ]


def test_a_time_in_the_daylight_saving_gap_is_an_error_and_an_ambiguous_time_is_its_first_occurrence():
    data = _csv(
        _row(Date="2026-03-08", Time="02:30:00"),  # clocks jump 02:00 -> 03:00 in New York
        _row(Date="2026-11-01", Time="01:30:00", **{"Transaction ID": "T2"}),  # 01:00-02:00 happens twice
    )
    gap, ambiguous = _parse(data)
    assert gap == RowError(
        ref="row 2",
        column="Time",
        value="2026-03-08 02:30:00",
        reason="date 2026-03-08 02:30 does not exist in America/New_York (daylight-saving gap)",
        row=2,
    )
    assert ambiguous.placed_at.utcoffset().total_seconds() == -4 * 3600  # EDT, the first 01:30
    assert ambiguous.placed_at.astimezone(ZoneInfo("UTC")) == datetime(2026, 11, 1, 5, 30, tzinfo=ZoneInfo("UTC"))


def test_a_currency_symbol_that_contradicts_the_merchant_currency_is_an_error():
    items = _parse(_csv(_row()), currency="EUR", tz="Europe/Paris")
    assert items[0] == RowError(
        ref="row 2",
        column="Gross Sales",
        value="$5.00",
        reason="currency USD in a file for a merchant selling in EUR",
        row=2,
    )
    # A bare "$" is fine for a Canadian merchant; "€" in a USD file is not
    assert len(_parse(_csv(_row()), currency="CAD")[0].lines) == 1
    assert _parse(_csv(_row(**{"Tax": "€0.40"})))[0].reason == "currency EUR in a file for a merchant selling in USD"


def test_rows_group_by_transaction_and_event_type_and_refunds_are_their_own_order():
    data = _csv(
        _row(),
        _row(SKU="MUF", Item="Muffin", **{"Price Point Name": "", "Customer ID": "C9", "Customer Name": "Bo"}),
        _row(
            Date="2026-07-19",
            Time="09:00:00",
            Qty="-1",
            SKU="MUF",
            Item="Muffin",
            **{
                "Event Type": "Refund",
                "Gross Sales": "($3.00)",
                "Discounts": "$0.50",
                "Net Sales": "-$2.50",
                "Tax": "($0.20)",
            },
        ),
    )
    sale, refund = _parse(data)
    assert (sale.external_id, len(sale.lines), sale.tax, sale.customer_name) == ("T1", 2, Decimal("0.80"), "Bo")
    assert sale.identifiers == [IdentifierInput(kind="pos_customer", value="C9", ref="row 3")]
    assert refund.external_id == "T1:refund"
    assert refund.tax == Decimal("0")
    assert refund.lines == [
        LineInput(
            sku="MUF",
            quantity=Decimal("-1"),
            unit_price=Decimal("3.00"),
            discount=Decimal("0.50"),
            kind="return",
            name="Muffin (Large)",
            category="Coffee",
            occurred_at=datetime(2026, 7, 19, 9, 0, tzinfo=NEW_YORK),
            amount=Decimal("2.50"),
            ref="row 4",
        )
    ]


def test_items_without_sku_get_a_stable_derived_sku_and_a_name_with_the_price_point():
    data = _csv(
        _row(SKU="", Item="Café crème", **{"Price Point Name": "Grande tasse"}),
        _row(SKU="", Item="Café crème", **{"Price Point Name": "Grande tasse", "Transaction ID": "T2"}),
    )
    first, second = _parse(data)
    assert (first.lines[0].sku, first.lines[0].name) == ("SQ-CAFE-CREME-GRANDE-TASSE", "Café crème (Grande tasse)")
    assert second.lines[0].sku == first.lines[0].sku


def test_square_online_is_online_and_an_in_store_sale_needs_a_location():
    data = _csv(
        _row(Channel="Square Online", Location="Warehouse"),
        _row(Location="", **{"Transaction ID": "T2"}),
    )
    online, error = _parse(data)
    assert (online.channel, online.store) == ("online", "Warehouse")
    assert error == RowError(
        ref="row 3", column="Location", value="", reason="an in-store sale needs its Location (the store)", row=3
    )


@pytest.mark.parametrize(
    ("case", "values", "column", "reason"),
    [
        ("quantity", {"Qty": "lots"}, "Qty", "not a number (write it like 12.50: digits, a dot for decimals)"),
        ("sale with zero", {"Qty": "0"}, "Qty", "a sold quantity must be more than 0"),
        ("money", {"Gross Sales": "five dollars"}, "Gross Sales", "not an amount of money"),
        ("missing net", {"Net Sales": ""}, "Net Sales", "a value is required"),
        ("event", {"Event Type": "Exchange"}, "Event Type", "unknown Event Type (expected Payment or Refund)"),
        ("date", {"Date": "18/07/2026"}, "Date", "not a date (expected 2026-07-18 or 07/18/2026, month first)"),
        ("time", {"Time": "25:00:00"}, "Time", "not a time of day (expected 12:59:30)"),
    ],
)
def test_value_errors(case, values, column, reason):
    [error] = _parse(_csv(_row(**values)))
    assert (error.row, error.column) == (2, column)
    assert error.reason.startswith(reason)
