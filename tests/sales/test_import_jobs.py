"""Import jobs: create, run (all-or-nothing, skip-invalid), store mapping, error CSV, the command."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError

from sales.imports import csv_safe, import_job_create, import_job_map_stores, import_job_run, progress_key
from sales.models import ImportJob, ImportRowError, ImportStatus, Order, OrderLine

from ..factories import StoreFactory

pytestmark = pytest.mark.django_db

HEADER = (
    "order_id,placed_at,channel,store,currency,status,kind,sku,product_name,category,quantity,unit_price,"
    "line_discount,order_discount,tax,shipping,returned_at,customer_email,customer_phone,loyalty_number,"
    "customer_name\n"
)


def row(order_id, *, channel="online", store="", quantity="1", price="10.00", sku="TEE-1", currency="EUR"):
    return (
        f"{order_id},2026-09-03T10:14:00+02:00,{channel},{store},{currency},completed,sale,{sku},Tee,Tops,"
        f"{quantity},{price},,,,,,,,,\n"
    )


def generic_csv(*rows: str) -> bytes:
    return (HEADER + "".join(rows)).encode()


def upload(content: bytes, name: str = "orders.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/csv")


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def create(merchant, content: bytes, *, mode="all-or-nothing", fmt="generic-csv", actor=None, **kwargs) -> ImportJob:
    return import_job_create(merchant=merchant, file=upload(content), format=fmt, mode=mode, actor=actor, **kwargs)


def test_create_stores_the_file_with_size_and_sha256(merchant, django_capture_on_commit_callbacks):
    # Given a generic CSV
    content = generic_csv(row("W-1"))
    # When a job is created
    with django_capture_on_commit_callbacks() as callbacks:
        job = create(merchant, content, enqueue=False)
    # Then the file is stored as uploaded, the job is queued, nothing is enqueued
    job.refresh_from_db()
    assert job.status == ImportStatus.QUEUED
    assert job.size_bytes == len(content)
    assert job.progress_total == len(content)
    assert job.file_sha256 == __import__("hashlib").sha256(content).hexdigest()
    assert job.original_name == "orders.csv"
    with job.file.open("rb") as handle:
        assert handle.read() == content
    assert callbacks == []


def test_create_enqueues_on_commit(merchant, django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    from sales import tasks

    monkeypatch.setattr(tasks.import_job_run_task, "delay", lambda job_id: sent.append(job_id))
    with django_capture_on_commit_callbacks(execute=True):
        job = create(merchant, generic_csv(row("W-1")))
    assert sent == [job.pk]


def test_run_imports_the_orders(merchant):
    # Given a file with two orders, one with two lines
    job = create(merchant, generic_csv(row("W-1"), row("W-1", sku="TEE-2", price="5.00"), row("W-2")))
    # When the job runs
    job = import_job_run(job.pk)
    # Then the orders are in, counted, and the job succeeded
    assert job.status == ImportStatus.SUCCEEDED, job.error_message
    assert (job.orders_created, job.orders_updated, job.orders_unchanged) == (2, 0, 0)
    assert job.lines_written == 3
    assert job.rows_read == 3
    assert job.error_count == 0
    assert job.attempts == 1
    assert job.progress_done == job.progress_total == job.size_bytes
    assert job.format == "generic-csv"
    orders = {o.external_id: o for o in Order.objects.filter(merchant=merchant)}
    assert set(orders) == {"W-1", "W-2"}
    assert orders["W-1"].gross == Decimal("15.00")
    assert orders["W-1"].import_job_id == job.pk
    assert OrderLine.objects.filter(order__merchant=merchant).count() == 3


def test_run_detects_the_format(merchant):
    job = create(merchant, generic_csv(row("W-1")), fmt=None)
    job = import_job_run(job.pk)
    assert job.status == ImportStatus.SUCCEEDED
    assert job.format == "generic-csv"


def test_same_file_twice_is_unchanged_the_second_time(merchant):
    content = generic_csv(row("W-1"), row("W-2"))
    import_job_run(create(merchant, content).pk)
    second = import_job_run(create(merchant, content).pk)
    assert second.status == ImportStatus.SUCCEEDED
    assert (second.orders_created, second.orders_updated, second.orders_unchanged) == (0, 0, 2)
    assert second.lines_written == 0
    assert Order.objects.filter(merchant=merchant).count() == 2


def test_a_finished_job_is_skipped(merchant):
    job = import_job_run(create(merchant, generic_csv(row("W-1"))).pk)
    again = import_job_run(job.pk)
    assert again.status == ImportStatus.SUCCEEDED
    assert again.attempts == 1
    assert again.orders_created == 1


def test_a_running_job_restarts_from_the_beginning(merchant):
    # Given a job left "running" by a worker that died after writing part of the file
    job = create(merchant, generic_csv(row("W-1"), row("W-2")))
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.RUNNING, attempts=1, orders_created=1)
    # When it is delivered again
    job = import_job_run(job.pk)
    # Then it runs whole, once
    assert job.status == ImportStatus.SUCCEEDED
    assert job.attempts == 2
    assert job.orders_created == 2
    assert Order.objects.filter(merchant=merchant).count() == 2


def test_a_job_interrupted_too_often_is_failed(merchant):
    job = create(merchant, generic_csv(row("W-1")))
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.RUNNING, attempts=3)
    job = import_job_run(job.pk)
    assert job.status == ImportStatus.FAILED
    assert job.error_message.startswith("The import was interrupted 3 times")
    assert Order.objects.filter(merchant=merchant).count() == 0


def test_all_or_nothing_with_one_bad_row_writes_nothing(merchant):
    # Given a file whose 3rd data row (file row 4) has a bad quantity
    content = generic_csv(row("W-1"), row("W-2"), row("W-3", quantity="abc"), row("W-4", currency="USD"))
    # When it runs in all-or-nothing mode
    job = import_job_run(create(merchant, content).pk)
    # Then nothing is written and every error is listed with its row
    assert job.status == ImportStatus.FAILED
    assert Order.objects.filter(merchant=merchant).count() == 0
    assert (job.orders_created, job.lines_written) == (0, 0)
    assert job.error_count == 2
    errors = list(ImportRowError.objects.filter(job=job).values_list("row", "column", flat=False))
    assert [e[0] for e in errors] == [4, 5]
    assert errors[1][1] == "currency"
    assert job.error_message.startswith("Nothing was imported: 2 error(s)")


def test_skip_invalid_writes_the_good_orders(merchant):
    content = generic_csv(row("W-1"), row("W-3", quantity="abc"), row("W-2"))
    job = import_job_run(create(merchant, content, mode="skip-invalid").pk)
    assert job.status == ImportStatus.SUCCEEDED
    assert job.orders_created == 2
    assert job.error_count == 1
    assert set(Order.objects.filter(merchant=merchant).values_list("external_id", flat=True)) == {"W-1", "W-2"}
    assert list(job.row_errors.values_list("row", flat=True)) == [3]
    assert job.error_message == "Imported 2 order(s); 1 error(s): the invalid orders were skipped."


def test_skip_invalid_with_nothing_valid_fails(merchant):
    job = import_job_run(create(merchant, b"hello,world\n1,2\n", fmt=None, mode="skip-invalid").pk)
    assert job.status == ImportStatus.FAILED
    assert job.error_count == 1
    assert job.row_errors.get().row == 1


def test_progress_is_published_in_the_cache_while_running(merchant, monkeypatch):
    seen = []
    from sales import imports

    original = imports._publish_progress

    def spy(job, run, tally, *, on_row):
        original(job, run, tally, on_row=on_row)
        seen.append(cache.get(progress_key(job.pk)))

    monkeypatch.setattr(imports, "_publish_progress", spy)
    content = generic_csv(*(row(f"W-{n}") for n in range(1, 2_502)))
    job = import_job_run(create(merchant, content).pk)
    assert job.status == ImportStatus.SUCCEEDED
    assert len(seen) == 2  # batches of 2,000 orders
    assert seen[-1] == {"done": len(content), "total": len(content), "rows": 2_501}
    assert 0 < seen[0]["done"] < len(content)
    assert cache.get(progress_key(job.pk)) is None


def test_unknown_stores_need_mapping_then_resume(merchant):
    # Given a file with in-store orders from a store the merchant has not created
    lyon = StoreFactory(merchant=merchant, code="LYO-01", name="Lyon Part-Dieu")
    content = generic_csv(
        row("W-1"), row("P-1", channel="offline", store="Lyon Centre"), row("P-2", channel="offline", store="Nice")
    )
    # When it runs
    job = import_job_run(create(merchant, content).pk)
    # Then it waits for a mapping, with the names, having written nothing
    assert job.status == ImportStatus.NEEDS_MAPPING
    assert job.unknown_stores == ["Lyon Centre", "Nice"]
    assert Order.objects.filter(merchant=merchant).count() == 0
    # When the merchant maps the names (Nice created meanwhile) and the job runs again
    nice = StoreFactory(merchant=merchant, code="NCE-01", name="Nice Masséna")
    job = import_job_map_stores(job=job, mapping={"Lyon Centre": lyon.code, "Nice": nice.code})
    assert job.status == ImportStatus.QUEUED
    job = import_job_run(job.pk)
    # Then it succeeds, with the stores mapped
    assert job.status == ImportStatus.SUCCEEDED, job.error_message
    assert job.orders_created == 3
    stores = dict(Order.objects.filter(merchant=merchant).values_list("external_id", "store__code"))
    assert stores == {"W-1": None, "P-1": "LYO-01", "P-2": "NCE-01"}


def test_mapping_refuses_other_merchants_stores(merchant, other_merchant):
    StoreFactory(merchant=other_merchant, code="BETA-1", name="Beta")
    job = import_job_run(create(merchant, generic_csv(row("P-1", channel="offline", store="Beta"))).pk)
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        import_job_map_stores(job=job, mapping={"Beta": "BETA-1"})


def test_mixed_errors_do_not_ask_for_a_mapping(merchant):
    content = generic_csv(row("P-1", channel="offline", store="Nowhere"), row("W-2", quantity="x"))
    job = import_job_run(create(merchant, content).pk)
    assert job.status == ImportStatus.FAILED
    assert job.unknown_stores == []
    assert job.error_count == 2


def test_csv_safe_neutralises_formulas():
    assert csv_safe("=SUM(A1)") == "'=SUM(A1)"
    assert csv_safe("-3") == "'-3"
    assert csv_safe("@x") == "'@x"
    assert csv_safe("+1") == "'+1"
    assert csv_safe("plain") == "plain"


def test_command_imports_and_prints(merchant, tmp_path, capsys):
    path = tmp_path / "orders.csv"
    path.write_bytes(generic_csv(row("W-1"), row("W-2")))
    call_command("import_sales", str(path), merchant="alpha", format="generic-csv")
    out = capsys.readouterr().out
    assert "succeeded" in out
    assert "2 orders created" in out
    assert Order.objects.filter(merchant=merchant).count() == 2


def test_command_fails_non_zero_with_errors(merchant, tmp_path, capsys):
    path = tmp_path / "orders.csv"
    path.write_bytes(generic_csv(row("W-1"), row("W-2", quantity="abc")))
    with pytest.raises(CommandError) as raised:
        call_command("import_sales", str(path), merchant="alpha", format="generic-csv")
    assert raised.value.returncode == 1
    out = capsys.readouterr().out
    assert "failed" in out
    assert "  row 3 quantity" in out
    assert Order.objects.filter(merchant=merchant).count() == 0


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("sales-generic.csv", "generic-csv"),
        ("sales-generic.jsonl", "generic-jsonl"),
        ("shopify-orders.csv", "shopify-orders"),
        ("square-items.csv", "square-items"),
    ],
)
def test_every_example_file_imports_through_a_job(merchant, name, fmt):
    # Given the merchant's stores as the examples name them
    StoreFactory(merchant=merchant, code="PAR-01", name="Paris Marais", timezone="Europe/Paris")
    StoreFactory(merchant=merchant, code="LYO-01", name="Lyon Presqu'île", timezone="Europe/Paris")
    StoreFactory(merchant=merchant, code="PAR-02", name="Paris Saint-Germain", timezone="Europe/Paris")
    # When the example file is imported with its format detected
    with open(Path(__file__).resolve().parents[2] / "examples" / name, "rb") as handle:
        job = import_job_create(merchant=merchant, file=handle, mode="all-or-nothing", enqueue=False)
    job = import_job_run(job.pk)
    # Then every order is in
    assert (job.status, job.format, job.error_count) == ("succeeded", fmt, 0), list(job.row_errors.values())
    assert job.orders_created == Order.objects.filter(merchant=merchant).count() > 0


def test_the_task_is_late_acked_on_the_imports_queue():
    from config.celery import app
    from sales.tasks import import_job_run_task

    assert (import_job_run_task.queue, import_job_run_task.acks_late) == ("imports", True)
    assert import_job_run_task.reject_on_worker_lost is True
    assert app.tasks["sales.import_job_run"].queue == "imports"


def test_a_job_another_worker_holds_is_not_run_twice(merchant):
    # Given another worker running the job (it holds the job's advisory lock on its own connection)
    import psycopg
    from django.db import connection

    from sales.imports import ADVISORY_LOCK_CLASS

    job = create(merchant, generic_csv(row("W-1")))
    params = connection.get_connection_params()
    with psycopg.connect(**{k: v for k, v in params.items() if k != "cursor_factory"}, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s, %s)", [ADVISORY_LOCK_CLASS, job.pk])
        # When a second delivery arrives
        again = import_job_run(job.pk)
    # Then it leaves the job alone
    assert (again.status, again.attempts) == (ImportStatus.QUEUED, 0)
    assert Order.objects.filter(merchant=merchant).count() == 0
