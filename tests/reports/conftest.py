"""Helpers of the reports tests: sales data through the ingestion service (small, exact) or generated in SQL
(large: for chunking, SIGKILL and snapshot tests), running a job in this process, reading its file."""

from __future__ import annotations

import csv
import gzip
import io
from datetime import datetime
from decimal import Decimal

import pytest
from django.core.files.storage import default_storage
from django.db import connection

from merchants.models import Role
from merchants.tenancy import Tenant
from reports.models import ReportJob
from reports.services import report_job_create, report_job_run
from sales.ingest.service import orders_ingest
from sales.ingest.types import LineInput, OrderInput

from ..factories import CategoryFactory, ProductFactory, StoreFactory
from ..sales.test_import_jobs_worker import broker  # noqa: F401 - the real-worker tests' Redis broker fixture


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.REPORTS_TEMP_DIR = ""


@pytest.fixture
def shop(merchant):
    """Two stores, two products (one with formula-like text), one category."""
    category = CategoryFactory(merchant=merchant, name="Tops")
    return {
        "paris": StoreFactory(merchant=merchant, code="PAR-01", name="Paris", timezone="Europe/Paris"),
        "london": StoreFactory(merchant=merchant, code="LON-01", name="London", timezone="Europe/London"),
        "tee": ProductFactory(merchant=merchant, sku="TEE-1", name="Linen tee", category=category, price=20),
        "evil": ProductFactory(merchant=merchant, sku="=cmd|' /C calc'!A0", name="@SUM(1+1)", category=category),
    }


def line(sku: str, quantity: str = "1", price: str = "20.00", **fields) -> LineInput:
    return LineInput(sku=sku, quantity=Decimal(quantity), unit_price=Decimal(price), **fields)


def ingest(merchant, *orders: OrderInput) -> None:
    outcomes = orders_ingest(merchant=merchant, orders=list(orders))
    assert {outcome.result for outcome in outcomes} <= {"created", "updated"}, outcomes


def order(external_id: str, placed_at: str, lines: list[LineInput], *, store: str | None = None, **fields):
    return OrderInput(
        source="api",
        external_id=external_id,
        channel="offline" if store else "online",
        placed_at=datetime.fromisoformat(placed_at),
        currency="EUR",
        store=store,
        lines=lines,
        ref=external_id,
        **fields,
    )


def bulk_sales(merchant, store, product, *, orders: int, lines_per_order: int, day: str = "2024-03-01") -> int:
    """``orders`` in-store orders of ``lines_per_order`` lines each, spread over 60 days, written in SQL (fast)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO sales_order (merchant_id, source, external_id, channel, store_id, placed_at, local_date,
                currency, status, gross, discounts, refunds, tax, shipping, net, content_hash, created_at, updated_at)
            SELECT %(m)s, 'bulk', 'B-' || n, 'offline', %(s)s,
                   %(day)s::timestamptz + (n %% 60) * interval '1 day' + interval '10 hours',
                   %(day)s::date + (n %% 60), 'EUR', 'completed', 10 * %(k)s, 0, 0, 0, 0, 10 * %(k)s, 'x', now(), now()
            FROM generate_series(1, %(n)s) AS n
            """,
            {"m": merchant.pk, "s": store.pk, "n": orders, "k": lines_per_order, "day": day},
        )
        cursor.execute(
            """
            INSERT INTO sales_orderline (merchant_id, order_id, line_number, kind, product_id, quantity, unit_price,
                gross, discount, net, local_date, occurred_at, channel, store_id)
            SELECT o.merchant_id, o.id, k, 'sale', %(p)s, 1, 10, 10, 0, 10, o.local_date, o.placed_at, 'offline',
                   o.store_id
            FROM sales_order o CROSS JOIN generate_series(1, %(k)s) AS k
            WHERE o.merchant_id = %(m)s AND o.source = 'bulk'
            """,
            {"m": merchant.pk, "p": product.pk, "k": lines_per_order},
        )
        return cursor.rowcount


def admin_tenant(merchant) -> Tenant:
    return Tenant(merchant=merchant, role=Role.ADMIN)


def build(merchant, kind: str, params: dict, *, format: str = "csv", **kwargs) -> ReportJob:  # noqa: A002
    """Create the job and build it here (no worker)."""
    job, created = report_job_create(
        tenant=kwargs.pop("tenant", None) or admin_tenant(merchant),
        kind=kind,
        format=format,
        params=params,
        dispatch=False,
        **kwargs,
    )
    assert created
    return report_job_run(job.pk)


def file_bytes(job: ReportJob) -> bytes:
    with default_storage.open(job.file.name, "rb") as handle:
        data = handle.read()
    return gzip.decompress(data) if job.gzip else data


def csv_rows(job: ReportJob) -> list[list[str]]:
    return list(csv.reader(io.StringIO(file_bytes(job).decode())))
