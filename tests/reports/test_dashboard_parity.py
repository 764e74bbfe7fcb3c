"""The selector-based reports agree with the dashboard to the cent: the same filters through the report files,
the analytics selectors and the analytics API, across a DST day, a late refund and a cancelled order."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import Decimal

import pytest

from analytics import selectors
from analytics.filters import Compare, Filters
from analytics.services import rollups_refresh
from sales.ingest.types import IdentifierInput, LineInput

from .conftest import build, csv_rows, ingest, line, order

pytestmark = pytest.mark.django_db

RANGE = {"from": "2024-03-30", "to": "2024-04-02"}


@pytest.fixture
def dashboard_sales(merchant, shop):
    jo = [IdentifierInput(kind="email", value="jo@example.com")]
    ingest(
        merchant,
        # Saturday before the DST change; one tee is refunded three days later (a late refund, on 2 April)
        order(
            "P-1",
            "2024-03-30T10:00:00+00:00",
            [
                line("TEE-1", "2", discount=Decimal("4.00")),
                LineInput(
                    sku="TEE-1",
                    quantity=Decimal(-1),
                    unit_price=Decimal("20.00"),
                    kind="return",
                    occurred_at=datetime.fromisoformat("2024-04-02T09:00:00+00:00"),
                ),
            ],
            store="PAR-01",
            identifiers=jo,
        ),  # fmt: skip
        # 31 March, the DST day: 01:30 UTC is 03:30 in Paris; 23:30 UTC on 30 March is 00:30 on 31 March (online)
        order("P-2", "2024-03-31T01:30:00+00:00", [line("TEE-1", "1")], store="PAR-01"),
        order("W-1", "2024-03-30T23:30:00+00:00", [line("TEE-1", "3", price="10.00")], identifiers=jo),
        order("L-1", "2024-03-31T22:30:00+00:00", [line("TEE-1", "1")], store="LON-01"),  # 23:30 in London
        # a cancelled order counts nothing at all
        order("X-1", "2024-04-01T10:00:00+00:00", [line("TEE-1", "9")], store="PAR-01", status="cancelled"),
        # outside the range
        order("W-0", "2024-03-29T22:59:00+00:00", [line("TEE-1", "1")]),  # 23:59 on 29 March in Paris
    )
    rollups_refresh(merchant_id=merchant.pk)


def _decimal(value: str) -> Decimal:
    return Decimal(value or "0")


def test_sales_summary_totals_equal_the_dashboard_and_the_api(merchant, dashboard_sales, api_client):
    job = build(merchant, "sales-summary", RANGE)
    assert job.status == "succeeded", job.error_message
    header, *body = csv_rows(job)
    column = {name: index for index, name in enumerate(header)}
    assert [(row[column["period"]], row[column["store_code"]], row[column["channel"]]) for row in body] == [
        ("2024-03-30", "PAR-01", "offline"),
        ("2024-03-31", "", "online"),
        ("2024-03-31", "LON-01", "offline"),
        ("2024-03-31", "PAR-01", "offline"),
        ("2024-04-02", "PAR-01", "offline"),
    ]

    def total(name: str) -> Decimal:
        return sum((_decimal(row[column[name]]) for row in body), Decimal(0))

    filters = Filters(
        merchant_id=merchant.pk, date_from=date(2024, 3, 30), date_to=date(2024, 4, 2), compare=Compare.NONE
    )
    kpis = selectors.summary(filters).current
    api = api_client.get("/api/v1/analytics/summary/", {**RANGE, "compare": "none"}).json()
    figures = {
        "gross_sales": Decimal("110.00"),  # 40 + 20 + 30 (online) + 20 (London); the cancelled order: nothing
        "discounts": Decimal("4.00"),
        "refunds": Decimal("20.00"),  # on 2 April, the day of the refund
        "net_sales": Decimal("86.00"),
        "orders": Decimal(4),
        "units": Decimal(6),  # 7 sold, 1 returned
    }
    for name, expected in figures.items():
        assert total(name) == expected, name
        assert Decimal(getattr(kpis, name)) == expected, name
        assert Decimal(str(api[name])) == expected, name


def test_store_and_product_performance_equal_the_dashboard(merchant, dashboard_sales):
    filters = Filters(merchant_id=merchant.pk, date_from=date(2024, 3, 30), date_to=date(2024, 4, 2))
    stores = build(merchant, "store-performance", RANGE)
    header, *body = csv_rows(stores)
    expected = [(row.code, str(row.net_sales), str(row.orders)) for row in selectors.stores(filters)]
    index = [header.index(name) for name in ("code", "net_sales", "orders")]
    assert [tuple(row[i] for i in index) for row in body] == expected
    assert expected[0] == ("PAR-01", "36.00", "2")
    products = build(merchant, "product-performance", RANGE)
    header, *body = csv_rows(products)
    assert [row[:2] for row in body] == [["1", "TEE-1"]]
    assert body[0][header.index("net_sales")] == "86.00"


def test_customers_report_matches_the_customer_kpis(merchant, shop, dashboard_sales):
    from merchants.models import Role
    from merchants.tenancy import Tenant

    filters = Filters(merchant_id=merchant.pk, date_from=date(2024, 3, 30), date_to=date(2024, 4, 2))
    kpis = selectors.summary(filters).current
    job = build(merchant, "customers", RANGE, tenant=Tenant(merchant=merchant, role=Role.ANALYST))
    header, *body = csv_rows(job)
    assert header == [
        "customer_key", "name", "email", "online_orders", "in_store_orders", "online_net_sales", "in_store_net_sales",
        "net_sales", "first_order_in_range", "last_order_in_range", "first_order_ever", "behaviour",
    ]  # fmt: skip
    assert len(body) == kpis.customers == 1
    assert [row[3:] for row in body] == [
        ["1", "1", "30.00", "16.00", "46.00", "2024-03-30", "2024-03-31", "2024-03-30", "both"]
    ]
    assert sum(row[-1] == "both" for row in body) == kpis.omnichannel_customers
    # a store manager's file has no names or e-mails
    manager = Tenant(merchant=merchant, role=Role.STORE_MANAGER, store_ids=frozenset({shop["paris"].pk}))
    header, *body = csv_rows(build(merchant, "customers", RANGE, tenant=manager))
    assert "email" not in header
    assert [row[1:] for row in body] == [["0", "1", "0.00", "16.00", "16.00", "2024-03-30", "2024-03-30", "2024-03-30",
                                          "in_store_only"]]  # fmt: skip


@pytest.mark.parametrize("interval", ["day", "week", "month"])
def test_sales_summary_streamed_by_copy_is_the_file_its_rows_make(merchant, dashboard_sales, tmp_path, interval):
    """On PostgreSQL the sales-summary is ``COPY`` of ``selectors.summary_rows_sql``; ``summary_rows`` (checked
    against the raw-line oracle in tests/analytics) reads the same SQL. Here the file is compared cell for cell with
    the CSV the Python writer makes of ``summary_rows``: same rows, order, number formats and empty ratios."""
    from reports import kinds
    from reports.writers import CsvWriter

    job = build(merchant, "sales-summary", {**RANGE, "interval": interval, "compare": "none"})
    assert job.status == "succeeded", job.error_message
    export = kinds.EXPORTS["sales-summary"]
    ctx = kinds.Context(
        merchant_id=merchant.pk,
        merchant_timezone=merchant.timezone,
        currency=merchant.currency,
        resolved=job.resolved,
        chunk_rows=1000,
    )
    writer = CsvWriter(str(tmp_path / "rows.csv"), export.columns(ctx))
    writer.write_rows(export.rows(ctx))
    writer.close()
    expected = list(csv.reader(io.StringIO((tmp_path / "rows.csv").read_text())))
    assert len(expected) > 1
    assert csv_rows(job) == expected
    assert job.rows == len(expected) - 1
