"""Exports built in this process on committed data (the export reads through its own connection)."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
from django.db import connection

from merchants.models import Role
from merchants.tenancy import Tenant
from reports.models import ReportJob, ReportStatus
from reports.services import report_job_run
from sales.models import ImportJob, ImportRowError

from .conftest import build, bulk_sales, csv_rows, file_bytes, ingest, line, order
from .xlsx_reader import has_formulas, rows, sheet_names

# In a test's transaction the export reads that transaction's snapshot (see ``reports.services._snapshot``);
# the snapshot test commits for real.
pytestmark = pytest.mark.django_db

HEADER = [
    "order_source", "order_external_id", "order_status", "channel", "store_code", "local_date", "local_time",
    "line_number", "line_kind", "sku", "product_name", "category", "quantity", "unit_price", "gross", "discount",
    "net", "customer_key",
]  # fmt: skip
MAY = {"from": "2024-05-01", "to": "2024-05-31"}


@pytest.fixture
def may_sales(merchant, shop):
    ingest(
        merchant,
        order(
            "P-1",
            "2024-05-04T10:00:00+00:00",
            [line("TEE-1", "2"), line(shop["evil"].sku, price="5.00")],
            store="PAR-01",
        ),
        order("L-1", "2024-05-04T23:30:00+00:00", [line("TEE-1", "1", discount=Decimal("2.00"))], store="LON-01"),
        order("W-1", "2024-05-31T22:30:00+00:00", [line("TEE-1", "1")]),  # online: 1 June in Paris, outside May
        order("W-0", "2024-04-30T21:59:00+00:00", [line("TEE-1", "3")]),  # online: 30 April 23:59 in Paris
        order("W-2", "2024-05-10T08:00:00+00:00", [line("TEE-1", "1")], customer_email="=evil@example.com"),
    )


def test_order_lines_csv_has_every_line_of_the_range_with_its_order_fields(merchant, may_sales):
    job = build(merchant, "order-lines", MAY)
    assert job.status == ReportStatus.SUCCEEDED, job.error_message
    data = csv_rows(job)
    assert data[0] == HEADER
    # (ordered by the order's internal id, then line number: the ingest's order of creation)
    assert sorted(row[:12] for row in data[1:]) == [
        ["api", "L-1", "completed", "offline", "LON-01", "2024-05-05", "2024-05-05 00:30:00", "1", "sale", "TEE-1",
         "Linen tee", "Tops"],
        ["api", "P-1", "completed", "offline", "PAR-01", "2024-05-04", "2024-05-04 12:00:00", "1", "sale", "TEE-1",
         "Linen tee", "Tops"],
        ["api", "P-1", "completed", "offline", "PAR-01", "2024-05-04", "2024-05-04 12:00:00", "2", "sale",
         "'=cmd|' /C calc'!A0", "'@SUM(1+1)", "Tops"],
        ["api", "W-2", "completed", "online", "", "2024-05-10", "2024-05-10 10:00:00", "1", "sale", "TEE-1",
         "Linen tee", "Tops"],
    ]  # fmt: skip
    assert sorted(row[12:17] for row in data[1:]) == sorted(
        [
            ["2.000", "20.00", "40.00", "0.00", "40.00"],
            ["1.000", "5.00", "5.00", "0.00", "5.00"],
            ["1.000", "20.00", "20.00", "2.00", "18.00"],
            ["1.000", "20.00", "20.00", "0.00", "20.00"],
        ]
    )
    assert (job.rows, job.progress_done, job.progress_total) == (4, 4, 4)
    assert job.bytes == len(file_bytes(job))
    assert job.data_as_of is not None
    assert job.expires_at is not None
    assert job.filename == f"order-lines-alpha-2024-05-01_2024-05-31-{job.pk}.csv"


@pytest.mark.parametrize(
    ("_case", "params", "external_ids"),
    [
        ("online only", {"channel": "online"}, ["W-2"]),
        ("in store only", {"channel": "offline"}, ["P-1", "P-1", "L-1"]),
        ("one store", {"store": ["lon-01"]}, ["L-1"]),
        ("a store manager's stores", {"_manager_of": "PAR-01"}, ["P-1", "P-1"]),
    ],
)
def test_order_lines_filters(merchant, shop, may_sales, _case, params, external_ids):
    params = dict(params)
    tenant = None
    if "_manager_of" in params:
        tenant = Tenant(merchant=merchant, role=Role.STORE_MANAGER, store_ids=frozenset({shop["paris"].pk}))
        params.pop("_manager_of")
    job = build(merchant, "order-lines", {**MAY, **params}, tenant=tenant)
    assert sorted(row[1] for row in csv_rows(job)[1:]) == sorted(external_ids)


def test_order_lines_xlsx_is_typed_and_has_no_formula(merchant, may_sales):
    job = build(merchant, "order-lines", MAY, format="xlsx")
    assert job.status == ReportStatus.SUCCEEDED, job.error_message
    path = file_bytes_path(job)
    assert sheet_names(path) == ["Report", "Data"]
    assert not has_formulas(path)
    data = rows(path, 2)
    assert [value for _, value in data[0]] == HEADER
    second = next(row for row in data[1:] if row[10] == ("s", "@SUM(1+1)"))
    assert second[9] == ("s", "=cmd|' /C calc'!A0")  # inert text cells, as typed
    assert second[5] == ("n", "45416")  # 2024-05-04 as an Excel date serial
    assert [(kind, float(value)) for kind, value in second[12:17]] == [("n", 1), ("n", 5), ("n", 5), ("n", 0), ("n", 5)]
    info = {row[0][1]: row[1][1] for row in rows(path, 1)[1:] if len(row) == 2}
    assert (info["Parameter: from"], info["Parameter: to"]) == ("2024-05-01", "2024-05-31")
    assert info["Data as of"].endswith("Europe/Paris")
    assert info["Currency"] == "EUR"


def file_bytes_path(job: ReportJob) -> str:
    from django.core.files.storage import default_storage

    return default_storage.path(job.file.name)


def test_gzip_csv(merchant, may_sales):
    job = build(merchant, "order-lines", MAY, gzip=True)
    assert job.filename.endswith(".csv.gz")
    assert sorted(row[1] for row in csv_rows(job)[1:]) == ["L-1", "P-1", "P-1", "W-2"]


def test_chunks_give_the_same_file_as_one_piece(merchant, shop, settings):
    count = bulk_sales(merchant, shop["paris"], shop["tee"], orders=2_000, lines_per_order=3)
    params = {"from": "2024-03-01", "to": "2024-04-29"}
    whole = build(merchant, "order-lines", params)
    settings.REPORTS_CHUNK_ROWS = 500
    chunked = build(merchant, "order-lines", {**params, "channel": "offline"})
    assert whole.rows == chunked.rows == count == 6_000
    assert whole.sha256 == chunked.sha256
    lines = csv_rows(chunked)[1:]
    assert [(row[1], row[7]) for row in lines[:4]] == [("B-1", "1"), ("B-1", "2"), ("B-1", "3"), ("B-2", "1")]


def test_import_errors_report(merchant):
    job_import = ImportJob.objects.create(
        merchant=merchant, original_name="x.csv", file="imports/x.csv", status="failed"
    )
    ImportRowError.objects.create(merchant=merchant, job=job_import, row=3, column="sku", value="=2+5", reason="bad")
    ImportRowError.objects.create(merchant=merchant, job=job_import, row=2, column="qty", value="-1", reason="neg")
    job = build(merchant, "import-errors", {"import_job": job_import.pk})
    assert csv_rows(job) == [
        ["row", "column", "value", "reason"],
        ["2", "qty", "'-1", "neg"],
        ["3", "sku", "'=2+5", "bad"],
    ]
    assert job.filename == f"import-errors-alpha-import-{job_import.pk}-{job.pk}.csv"


@pytest.mark.django_db(transaction=True)
def test_a_query_past_the_statement_timeout_fails_the_job_clearly(merchant, shop, settings):
    bulk_sales(merchant, shop["paris"], shop["tee"], orders=3_000, lines_per_order=5)
    settings.REPORTS_STATEMENT_TIMEOUT = 1  # ms
    job = build(merchant, "order-lines", {"from": "2024-03-01", "to": "2024-04-29"})
    assert job.status == ReportStatus.FAILED
    assert job.error_message == (
        "A database query of this report ran longer than 0.001 s and was stopped; no file was kept. Narrow the date "
        "range or the stores and order it again."
    )
    assert not job.file


@pytest.mark.django_db(transaction=True)
def test_the_export_is_one_snapshot_orders_written_meanwhile_do_not_appear(merchant, shop, settings):
    # Given an export of 9,000 lines in 18 chunks, running in another thread
    bulk_sales(merchant, shop["paris"], shop["tee"], orders=3_000, lines_per_order=3)
    settings.REPORTS_CHUNK_ROWS = 500
    from reports.services import report_job_create

    from .conftest import admin_tenant

    job, _ = report_job_create(
        tenant=admin_tenant(merchant), kind="order-lines", params={"from": "2024-03-01", "to": "2024-04-29"},
        dispatch=False,
    )  # fmt: skip
    result: dict = {}
    thread = threading.Thread(target=lambda: result.setdefault("job", _run_in_thread(job.pk)))
    thread.start()
    deadline = time.monotonic() + 60
    while ReportJob.objects.get(pk=job.pk).progress_done == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    # When orders are written half-way (committed: they would fall in the last chunks)
    assert ReportJob.objects.get(pk=job.pk).progress_done < 9_000
    ingest(merchant, order("LATE-1", "2024-03-10T10:00:00+00:00", [line("TEE-1")], store="PAR-01"))
    thread.join(60)
    # Then the file holds exactly the lines of the snapshot it started from
    done = result["job"]
    assert done.status == ReportStatus.SUCCEEDED, done.error_message
    assert done.rows == 9_000
    assert "LATE-1" not in file_bytes(done).decode()


def _run_in_thread(job_id: int):
    try:
        return report_job_run(job_id)
    finally:
        connection.close()
