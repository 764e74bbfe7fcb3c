"""Sales file imports: the job service (create, run, resume after store mapping) and the error CSV.

- :func:`import_job_create` stores the upload (default storage) with its size and SHA-256, writes the
  ``ImportJob`` and enqueues ``sales.tasks.import_job_run_task`` once the transaction commits.
- :func:`import_job_run` runs a job: parses the file (``sales.parsers.parse``) and ingests it in batches of
  ``BATCH_SIZE`` orders through the one ingestion service with one ``IngestContext``, the next batch parsed and
  prepared in a thread while this one is written (``sales.ingest.pipeline``), commits not waiting for the WAL
  flush (``synchronous_commit = off``: a crash re-runs the job, which is idempotent).

  * all-or-nothing: the whole write is one transaction, rolled back when any error was found. After the first
    error nothing more is written but the file is read to the end (orders still validated) so that every
    error is reported at once.
  * skip-invalid: each batch commits on its own; invalid orders are left out and reported.

  Progress (bytes read / file size) is published every batch in the cache (``import-progress:<id>``, visible
  while the import transaction is still open) and, in skip-invalid mode, on the row too. A finished job is
  skipped; a job found "running" (a redelivery after a worker died) starts again from the beginning, which is
  safe: all-or-nothing rolled back, skip-invalid upserts are idempotent. A job interrupted ``MAX_ATTEMPTS``
  times is marked failed. Two deliveries of one job never run at the same time (a PostgreSQL advisory lock).
- When every error is "unknown store", the job waits in ``needs_mapping`` with the distinct names; the merchant
  maps each name to a store (:func:`import_job_map_stores`) and the job runs again.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import logging
import os
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from core.locks import job_lock_release, job_lock_try
from merchants.services import audit_record
from sales.ingest.pipeline import batches_prepared
from sales.ingest.service import IngestContext, IngestError, _order_prepare, orders_write_prepared
from sales.ingest.types import RowError
from sales.models import ImportFormat, ImportJob, ImportMode, ImportRowError, ImportStatus
from sales.parsers import parse, row_from_ref

logger = logging.getLogger(__name__)

BATCH_SIZE = 2_000
ROW_ERROR_CAP = 10_000
MAX_ATTEMPTS = 3
UNKNOWN_STORE = "unknown store"
PROGRESS_TIMEOUT = 24 * 3600
ADVISORY_LOCK_CLASS = 0x5A1E  # first key of pg_try_advisory_lock(int, int): "import job"

FINISHED = (ImportStatus.SUCCEEDED, ImportStatus.FAILED, ImportStatus.NEEDS_MAPPING)
ACTIVE = (ImportStatus.QUEUED, ImportStatus.RUNNING)

AUDIT_IMPORT_CREATED = "sales.import_created"
AUDIT_IMPORT_MAPPED = "sales.import_mapped"


# --- progress ------------------------------------------------------------------------------------


def progress_key(job_id: int) -> str:
    return f"import-progress:{job_id}"


def job_progress(job: ImportJob) -> dict:
    """``{"done", "total", "percent", "rows"}``: live numbers from the cache while the job runs, else the row's."""
    done, total, rows = job.progress_done, job.progress_total, job.rows_read
    if job.status == ImportStatus.RUNNING:
        live = cache.get(progress_key(job.pk))
        if live:
            done, total, rows = live["done"], live["total"], live["rows"]
    if total:
        percent = min(100, int(100 * done / total))
    else:
        percent = 100 if job.status == ImportStatus.SUCCEEDED else 0
    return {"done": done, "total": total, "percent": percent, "rows": rows}


# --- create ------------------------------------------------------------------------------------


def _is_user(actor) -> bool:
    return actor is not None and bool(getattr(actor, "pk", None)) and not hasattr(actor, "api_key")


@transaction.atomic
def import_job_create(
    *,
    merchant,
    file,
    format: str | None = None,  # noqa: A002
    mode: str = ImportMode.ALL_OR_NOTHING,
    actor=None,
    request=None,
    api_key=None,
    enqueue: bool = True,
) -> ImportJob:
    """Store ``file`` and create a queued job; the task is enqueued when the transaction commits."""
    if format and format not in ImportFormat.values:
        raise ValidationError({"format": f"Unknown format {format!r}: use one of {', '.join(ImportFormat.values)}."})
    if mode not in ImportMode.values:
        raise ValidationError({"mode": f"Unknown mode {mode!r}: use one of {', '.join(ImportMode.values)}."})
    if api_key is None and hasattr(actor, "api_key"):
        api_key = actor.api_key
    original_name = os.path.basename(getattr(file, "name", "") or "upload")[:255] or "upload"
    digest = hashlib.sha256()
    size = 0
    if hasattr(file, "seek"):
        file.seek(0)
    for chunk in file.chunks() if hasattr(file, "chunks") else iter(lambda: file.read(1 << 16), b""):
        digest.update(chunk)
        size += len(chunk)
    if size == 0:
        raise ValidationError({"file": "The file is empty."})
    if hasattr(file, "seek"):
        file.seek(0)
    extension = os.path.splitext(original_name)[1].lower()[:10]
    job = ImportJob(
        merchant=merchant,
        created_by=actor if _is_user(actor) else None,
        api_key=api_key,
        format=format or "",
        mode=mode,
        original_name=original_name,
        size_bytes=size,
        file_sha256=digest.hexdigest(),
        progress_total=size,
    )
    job.file.save(f"{merchant.pk}-{uuid.uuid4().hex}{extension}", File(file), save=False)
    job.save()
    audit_record(
        action=AUDIT_IMPORT_CREATED,
        merchant=merchant,
        actor=actor,
        api_key=api_key,
        target=f"import:{job.pk}",
        request=request,
        data={"file": original_name, "format": job.format, "mode": mode, "size": size},
    )
    if enqueue:
        import_job_enqueue_on_commit(job.pk)
    return job


def import_job_enqueue_on_commit(job_id: int) -> None:
    def send():
        from sales.tasks import import_job_run_task

        try:
            import_job_run_task.delay(job_id)
        except Exception:  # the broker is down: the job stays queued and can be re-sent
            logger.exception("imports: could not enqueue job %s", job_id)

    transaction.on_commit(send)


@transaction.atomic
def import_job_map_stores(*, job: ImportJob, mapping: dict[str, str], actor=None, request=None) -> ImportJob:
    """Record ``mapping`` (the file's store name -> store code) for a job waiting in needs_mapping; requeue it."""
    from stores.models import Store

    job = ImportJob.objects.select_for_update().get(pk=job.pk)
    if job.status != ImportStatus.NEEDS_MAPPING:
        raise ValidationError("This import is not waiting for a store mapping.")
    codes = set(Store.objects.filter(merchant_id=job.merchant_id).values_list("code", flat=True))
    missing = [name for name in job.unknown_stores if not mapping.get(name)]
    if missing:
        raise ValidationError(f"Choose a store for: {', '.join(missing)}.")
    bad = [code for code in mapping.values() if code not in codes]
    if bad:
        raise ValidationError(f"Unknown store code(s): {', '.join(bad)}.")
    job.store_mapping = {**job.store_mapping, **{name: mapping[name] for name in job.unknown_stores}}
    job.unknown_stores = []
    job.status = ImportStatus.QUEUED
    job.error_message = ""
    job.attempts = 0
    job.finished_at = None
    job.save()
    audit_record(
        action=AUDIT_IMPORT_MAPPED,
        merchant=job.merchant,
        actor=actor,
        target=f"import:{job.pk}",
        request=request,
        data={"mapping": job.store_mapping},
    )
    import_job_enqueue_on_commit(job.pk)
    return job


# --- run -----------------------------------------------------------------------------------------


class _Rollback(Exception):
    pass


@dataclass
class _Tally:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    lines: int = 0
    error_count: int = 0
    orders_ok: int = 0  # orders that passed validation (written or not)
    errors: list[RowError] = field(default_factory=list)
    reasons: set[str] = field(default_factory=set)
    unknown_stores: set[str] = field(default_factory=set)

    def error(self, error: RowError) -> None:
        self.error_count += 1
        self.reasons.add(error.reason)
        if error.reason == UNKNOWN_STORE and error.value:
            self.unknown_stores.add(error.value)
        if len(self.errors) < ROW_ERROR_CAP:
            self.errors.append(error)

    @property
    def only_unknown_stores(self) -> bool:
        return bool(self.error_count) and self.reasons == {UNKNOWN_STORE} and bool(self.unknown_stores)


def import_job_run(job_id: int) -> ImportJob | None:
    """Run the job (see the module docstring). Returns the job as it ended, or None if it does not exist."""
    if not job_lock_try(ADVISORY_LOCK_CLASS, job_id):
        logger.info("imports: job %s is being run by another worker, skipping this delivery", job_id)
        return ImportJob.objects.filter(pk=job_id).first()
    try:
        return _run_locked(job_id)
    finally:
        job_lock_release(ADVISORY_LOCK_CLASS, job_id)


def _run_locked(job_id: int) -> ImportJob | None:
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().select_related("merchant").filter(pk=job_id).first()
        if job is None or job.status in FINISHED:
            return job
        if job.status == ImportStatus.RUNNING and job.attempts >= MAX_ATTEMPTS:
            _finish(
                job,
                ImportStatus.FAILED,
                f"The import was interrupted {job.attempts} times (the worker running it stopped) and has been "
                "given up. Nothing was imported in all-or-nothing mode; upload the file again to retry.",
            )
            return job
        ImportRowError.objects.filter(job=job).delete()
        job.status = ImportStatus.RUNNING
        job.attempts += 1
        job.started_at = timezone.now()
        job.finished_at = None
        job.error_message = ""
        job.progress_done = job.rows_read = 0
        job.orders_created = job.orders_updated = job.orders_unchanged = job.lines_written = job.error_count = 0
        job.progress_total = job.size_bytes
        job.save()
    try:
        tally, run = _process(job)
    except Exception as exc:
        logger.exception("imports: job %s failed", job_id)
        _finish(
            job,
            ImportStatus.FAILED,
            f"The import stopped on an unexpected error ({exc.__class__.__name__}); nothing more was written. "
            "Try again; if it happens again, contact support with the import number.",
        )
        return job
    _conclude(job, tally, run)
    return job


def _process(job: ImportJob):
    merchant = job.merchant
    # Commits without waiting for the WAL flush: a crash may lose the last commits, and the job is then run
    # again (idempotent), see IngestContext.
    context = IngestContext(merchant, durable=False)
    mapping = dict(job.store_mapping or {})
    all_or_nothing = job.mode == ImportMode.ALL_OR_NOTHING
    tally = _Tally()
    with job.file.open("rb") as handle:
        run = parse(handle, format=job.format or None, merchant=merchant, filename=job.original_name)
        if all_or_nothing:
            try:
                with transaction.atomic():
                    _ingest(job, run, tally, context, mapping, stop_writing_on_error=True)
                    if tally.error_count:
                        raise _Rollback
            except _Rollback:
                tally.created = tally.updated = tally.unchanged = tally.lines = 0
        else:
            _ingest(job, run, tally, context, mapping, stop_writing_on_error=False)
    return tally, run


def _ingest(job, run, tally: _Tally, context, mapping, *, stop_writing_on_error: bool) -> None:
    # The next batch is parsed and prepared in a thread while this one is written (sales.ingest.pipeline).
    batches = batches_prepared(
        run,
        merchant=job.merchant,
        context=context,
        store_mapping=mapping,
        batch_size=BATCH_SIZE,
        position=lambda: (run.bytes_read, run.rows_read),
    )
    with contextlib.closing(batches):  # an error here stops the producer thread at once
        for batch in batches:
            _ingest_batch(job, batch, tally, context, mapping, stop_writing_on_error=stop_writing_on_error)


def _ingest_batch(job, batch, tally: _Tally, context, mapping, *, stop_writing_on_error: bool) -> None:
    orders = batch.orders
    for error in batch.errors:
        tally.error(error)
    if orders:
        if stop_writing_on_error and tally.error_count:
            _validate_only(orders, job, context, mapping, tally)
        else:
            outcomes = orders_write_prepared(merchant=job.merchant, batch=batch.prepared, job=job, context=context)
            for order, outcome in zip(orders, outcomes, strict=True):
                if outcome.result == "error":
                    for error in outcome.errors:
                        tally.error(error)
                    continue
                tally.orders_ok += 1
                if outcome.result == "created":
                    tally.created += 1
                    tally.lines += len(order.lines)
                elif outcome.result == "updated":
                    tally.updated += 1
                    tally.lines += len(order.lines)
                else:
                    tally.unchanged += 1
    _publish_progress(job, batch, tally, on_row=not stop_writing_on_error)


def _validate_only(orders, job, context, mapping, tally: _Tally) -> None:
    """All-or-nothing after an error: nothing will be written, but every order is still checked."""
    for index, order in enumerate(orders):
        try:
            _order_prepare(order, index, merchant=job.merchant, context=context, store_mapping=mapping)
        except IngestError as error:
            tally.error(error.error)
        else:
            tally.orders_ok += 1


def _publish_progress(job: ImportJob, run, tally: _Tally, *, on_row: bool) -> None:
    """``run``: where the reader was (``bytes_read``, ``rows_read``) when the batch just written was cut."""
    done = min(run.bytes_read, job.size_bytes) if job.size_bytes else run.bytes_read
    cache.set(progress_key(job.pk), {"done": done, "total": job.size_bytes, "rows": run.rows_read}, PROGRESS_TIMEOUT)
    if on_row:  # outside any import transaction: visible at once
        ImportJob.objects.filter(pk=job.pk).update(
            progress_done=done,
            rows_read=run.rows_read,
            orders_created=tally.created,
            orders_updated=tally.updated,
            orders_unchanged=tally.unchanged,
            lines_written=tally.lines,
            error_count=tally.error_count,
        )


def _row_of(error: RowError) -> int:
    if error.row is not None:
        return error.row
    return row_from_ref(error.ref) or 0


def _conclude(job: ImportJob, tally: _Tally, run) -> None:
    all_or_nothing = job.mode == ImportMode.ALL_OR_NOTHING
    job.rows_read = run.rows_read
    job.progress_done = job.size_bytes
    job.orders_created, job.orders_updated = tally.created, tally.updated
    job.orders_unchanged, job.lines_written = tally.unchanged, tally.lines
    job.error_count = tally.error_count
    if not job.format and run.format:
        job.format = run.format
    ImportRowError.objects.bulk_create(
        [
            ImportRowError(
                merchant_id=job.merchant_id,
                job=job,
                row=_row_of(error),
                column=(error.column or "")[:100],
                value=(error.value or "")[:255],
                reason=(error.reason or "")[:500],
            )
            for error in tally.errors
        ],
        batch_size=2_000,
    )
    written = tally.created + tally.updated + tally.unchanged
    if tally.only_unknown_stores:
        job.unknown_stores = sorted(tally.unknown_stores, key=str.casefold)
        message = (
            f"{len(job.unknown_stores)} store name(s) in the file match no store: map each one to a store "
            "(or create it) to go on."
        )
        if all_or_nothing:
            job.orders_created = job.orders_updated = job.orders_unchanged = job.lines_written = 0
            message += " Nothing has been imported yet."
        _finish(job, ImportStatus.NEEDS_MAPPING, message)
    elif tally.error_count and (all_or_nothing or not written):
        detail = "" if all_or_nothing else " No order could be imported."
        _finish(
            job,
            ImportStatus.FAILED,
            f"Nothing was imported: {tally.error_count} error(s) in the file (see the rows below).{detail} "
            "Fix them and upload the file again"
            + (", or import in “skip invalid rows” mode to import the valid orders." if all_or_nothing else "."),
        )
    elif tally.error_count:
        _finish(
            job,
            ImportStatus.SUCCEEDED,
            f"Imported {written} order(s); {tally.error_count} error(s): the invalid orders were skipped.",
        )
    else:
        _finish(job, ImportStatus.SUCCEEDED, "")


def _finish(job: ImportJob, status: str, message: str) -> None:
    job.status = status
    job.error_message = message
    job.finished_at = timezone.now()
    job.save()
    cache.delete(progress_key(job.pk))


# --- error CSV -------------------------------------------------------------------------------------

ERROR_CSV_HEADER = ("row", "column", "value", "reason")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: object) -> str:
    """A cell a spreadsheet will not run as a formula: a leading =, +, -, @, tab or CR is prefixed with '."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def row_errors_csv(errors: Iterable[ImportRowError]) -> Iterator[str]:
    """The CSV of row errors, one string per line (for a streaming response)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(values) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(values)
        return buffer.getvalue()

    yield line(ERROR_CSV_HEADER)
    for error in errors:
        yield line([error.row, csv_safe(error.column), csv_safe(error.value), csv_safe(error.reason)])
