"""Every write of the reports app: create, dispatch, run, cancel, retry, expire, sweep; schedules.

Lifecycle of a ``ReportJob``:

1. :func:`report_job_create` validates the request (``kinds.resolve_params``), and returns the pending job of
   an identical request if there is one (a partial unique constraint makes that hold under races too).
2. :func:`report_jobs_dispatch` hands queued jobs to Celery while the merchant has fewer than
   ``REPORTS_MAX_RUNNING`` jobs running or dispatched; the others wait, queued, and the page says why. It runs
   after each create, finish and cancel (and from the sweeper).
3. :func:`report_job_run` (the ``reports`` queue) builds the file. Two deliveries never run at once (a
   PostgreSQL advisory lock per job); a finished job is skipped; a job found running (its worker died: the task
   is ``acks_late`` so the broker delivers it again) starts again from the beginning, which is safe because
   nothing is published before the end. The export reads one REPEATABLE READ snapshot on its own connection
   (CSV chunks: ``COPY_PROCESSES`` ``psql`` processes at once on that same exported snapshot, their parts appended
   in order, see :func:`_copy_parallel`); between chunks it saves progress and reads the cancel flag on the
   ordinary connection. The file is written
   under ``REPORTS_TEMP_DIR`` and moved into place with ``os.replace`` under an unguessable name, then the job
   row is marked succeeded: a re-run replaces the same name, so there is one file per job, whatever happens.
4. Beat: :func:`report_files_expire` (expired files deleted, status ``expired``), :func:`report_jobs_sweep`
   (running jobs whose worker is gone are re-queued or failed; dispatched messages that never started are sent
   again), :func:`report_temp_files_purge` (temporary files of attempts that died), :func:`report_schedules_run`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from core.locks import job_lock_release, job_lock_try
from merchants.models import Membership, Merchant, Role
from merchants.services import audit_record
from merchants.tenancy import Perm, Tenant

from . import kinds
from .models import FINISHED_STATUSES, ReportFormat, ReportJob, ReportKind, ReportSchedule, ReportStatus
from .writers import XLSX_COPY_OPTIONS, XLSX_MAX_TOTAL_ROWS, CsvWriter, ReportTooLarge, XlsxStreamWriter, XlsxWriter

logger = logging.getLogger(__name__)

ADVISORY_LOCK_CLASS = 0x5E9F  # pg_try_advisory_lock(class, job id): "report job"
DISPATCH_LOCK_CLASS = 0x5EA0  # pg_advisory_xact_lock(class, merchant id): one dispatcher per merchant at a time
MAX_ATTEMPTS = 3
FETCH_ROWS = 5_000
COPY_BLOCK_BYTES = 1 << 20
# CSV chunks read at once by ``psql`` processes sharing the export's snapshot (see ``_copy_parallel``); 0: read
# in the worker through psycopg instead. ``REPORTS_COPY_PROCESSES`` overrides it (the cores PostgreSQL may spend).
COPY_PROCESSES = 2


def _copy_processes() -> int:
    return int(getattr(settings, "REPORTS_COPY_PROCESSES", COPY_PROCESSES))


AUDIT_REPORT_REQUESTED = "reports.requested"
AUDIT_REPORT_CANCELLED = "reports.cancelled"
AUDIT_SCHEDULE_CREATED = "reports.schedule_created"
AUDIT_SCHEDULE_DELETED = "reports.schedule_deleted"


class ReportCancelled(Exception):
    pass


# --- create --------------------------------------------------------------------------------------


def _request_hash(kind: str, format: str, gzip: bool, resolved: dict) -> str:  # noqa: A002
    body = json.dumps({"kind": kind, "format": format, "gzip": gzip, "resolved": resolved}, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()


def _merchant_today(merchant: Merchant) -> date:
    return timezone.now().astimezone(merchant.tzinfo).date()


def _is_user(actor) -> bool:
    return actor is not None and bool(getattr(actor, "pk", None)) and not hasattr(actor, "api_key")


def report_job_create(
    *,
    tenant: Tenant,
    kind: str,
    format: str = ReportFormat.CSV,  # noqa: A002
    params: dict[str, Any] | None = None,
    gzip: bool = False,
    actor=None,
    api_key=None,
    request=None,
    schedule: ReportSchedule | None = None,
    period_start: date | None = None,
    today: date | None = None,
    dispatch: bool = True,
) -> tuple[ReportJob, bool]:
    """Queue a report; returns (job, created). An identical pending request returns that job, not a new one."""
    if format not in ReportFormat.values:
        raise ValidationError({"format": f"Unknown format {format!r}: use csv or xlsx."})
    if gzip and format != ReportFormat.CSV:
        raise ValidationError({"gzip": "Only CSV files can be gzip-compressed (an XLSX file is already compressed)."})
    merchant = tenant.merchant
    params = kinds.clean_params(kind, params or {}) if kind in ReportKind.values else {}
    resolved = kinds.resolve_params(tenant, kind, params, today=today or _merchant_today(merchant))
    request_hash = _request_hash(kind, format, gzip, resolved)
    if api_key is None and hasattr(actor, "api_key"):
        api_key = actor.api_key
    with transaction.atomic():
        existing = ReportJob.objects.filter(
            merchant=merchant, request_hash=request_hash, status__in=[ReportStatus.QUEUED, ReportStatus.RUNNING]
        ).first()
        if existing is not None and schedule is None:
            return existing, False
        job = ReportJob(
            merchant=merchant,
            requested_by=actor if _is_user(actor) else None,
            api_key=api_key,
            schedule=schedule,
            schedule_period_start=period_start,
            kind=kind,
            format=format,
            gzip=gzip,
            params=params,
            resolved=resolved,
            store_ids=resolved.get("store_ids"),
            request_hash=request_hash if schedule is None else f"{request_hash[:48]}{uuid.uuid4().hex[:16]}",
            file_token=secrets.token_urlsafe(32),
            progress_total=0,
        )
        try:
            with transaction.atomic():
                job.save()
        except IntegrityError:
            existing = ReportJob.objects.filter(
                merchant=merchant, request_hash=request_hash, status__in=[ReportStatus.QUEUED, ReportStatus.RUNNING]
            ).first()
            if existing is None:
                raise
            return existing, False
        audit_record(
            action=AUDIT_REPORT_REQUESTED,
            merchant=merchant,
            actor=actor,
            api_key=api_key,
            target=f"report:{job.pk}",
            request=request,
            data={"kind": kind, "format": format, "params": params},
        )
        if dispatch:
            transaction.on_commit(lambda: report_jobs_dispatch(merchant.pk))
    return job, True


def report_job_retry(*, tenant: Tenant, job: ReportJob, actor=None, request=None) -> tuple[ReportJob, bool]:
    """Order the same report again (a new job, with today's data and the requester's current store access)."""
    if job.is_pending:
        raise ValidationError("This report is still being built.")
    return report_job_create(
        tenant=tenant,
        kind=job.kind,
        format=job.format,
        params=job.params,
        gzip=job.gzip,
        actor=actor,
        request=request,
    )


# --- dispatch ------------------------------------------------------------------------------------


def report_jobs_dispatch(merchant_id: int) -> list[int]:
    """Send queued jobs to the workers while the merchant has a free slot; returns the ids sent."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [DISPATCH_LOCK_CLASS, merchant_id])
        jobs = ReportJob.objects.filter(merchant_id=merchant_id)
        busy = jobs.filter(status=ReportStatus.RUNNING).count() + (
            jobs.filter(status=ReportStatus.QUEUED, dispatched_at__isnull=False).count()
        )
        free = settings.REPORTS_MAX_RUNNING - busy
        if free <= 0:
            return []
        ids = list(
            jobs.filter(status=ReportStatus.QUEUED, dispatched_at__isnull=True)
            .order_by("created_at", "pk")
            .values_list("pk", flat=True)[:free]
        )
        if ids:
            ReportJob.objects.filter(pk__in=ids).update(dispatched_at=timezone.now())
            transaction.on_commit(lambda: _send(ids))
    return ids


def _send(ids: list[int]) -> None:
    from .tasks import report_job_run_task

    for job_id in ids:
        try:
            report_job_run_task.delay(job_id)
        except Exception:  # the broker is down: the sweeper sends it again
            logger.exception("reports: could not enqueue job %s", job_id)


# --- cancel --------------------------------------------------------------------------------------


def report_job_cancel(*, job: ReportJob, actor=None, request=None) -> ReportJob:
    """Cancel a queued job at once; ask a running one to stop (it checks between chunks)."""
    with transaction.atomic():
        job = ReportJob.objects.select_for_update().get(pk=job.pk)
        if job.status == ReportStatus.QUEUED:
            job.status = ReportStatus.CANCELLED
            job.finished_at = timezone.now()
            job.error_message = "Cancelled before it started."
            job.save(update_fields=["status", "finished_at", "error_message"])
        elif job.status == ReportStatus.RUNNING:
            job.cancel_requested = True
            job.save(update_fields=["cancel_requested"])
        else:
            raise ValidationError(f"This report is already {job.get_status_display().lower()}: nothing to cancel.")
        audit_record(
            action=AUDIT_REPORT_CANCELLED,
            merchant=job.merchant,
            actor=actor,
            target=f"report:{job.pk}",
            request=request,
            data={"status": job.status},
        )
        merchant_id = job.merchant_id
        transaction.on_commit(lambda: report_jobs_dispatch(merchant_id))
    return job


# --- run -----------------------------------------------------------------------------------------


def report_job_run(job_id: int) -> ReportJob | None:
    """Build the job's file (see the module docstring). Returns the job as it ended (None if it doesn't exist)."""
    if not job_lock_try(ADVISORY_LOCK_CLASS, job_id):
        logger.info("reports: job %s is being built by another worker, skipping this delivery", job_id)
        return ReportJob.objects.filter(pk=job_id).first()
    try:
        job = _start(job_id)
        if job is None or job.status != ReportStatus.RUNNING:
            return job
        job = _build_and_publish(job)
        if job.schedule_id and job.status != ReportStatus.RUNNING:
            report_job_notify(job)  # succeeded or failed: the recipients hear either way (once)
        return job
    finally:
        job_lock_release(ADVISORY_LOCK_CLASS, job_id)
        merchant_id = ReportJob.objects.filter(pk=job_id).values_list("merchant_id", flat=True).first()
        if merchant_id is not None:
            report_jobs_dispatch(merchant_id)


def _start(job_id: int) -> ReportJob | None:
    with transaction.atomic():
        job = ReportJob.objects.select_for_update(of=("self",)).select_related("merchant").filter(pk=job_id).first()
        if job is None or job.status in FINISHED_STATUSES:
            return job
        if job.status == ReportStatus.RUNNING and job.attempts >= MAX_ATTEMPTS:
            _finish(
                job,
                ReportStatus.FAILED,
                f"The report was interrupted {job.attempts} times (the worker building it stopped) and has been "
                "given up. Order it again; if it keeps failing, narrow the filters or contact support.",
            )
            return job
        if job.cancel_requested:
            _finish(job, ReportStatus.CANCELLED, "Cancelled.")
            return job
        now = timezone.now()
        job.status = ReportStatus.RUNNING
        job.attempts += 1
        job.started_at = job.heartbeat_at = now
        job.progress_done = job.rows = 0
        job.error_message = ""
        job.save()
    return job


def _finish(job: ReportJob, status: str, message: str, **fields) -> None:
    """Record the end; only these fields are written (progress saved meanwhile by ``_Progress`` stays)."""
    job.status = status
    job.error_message = message
    job.finished_at = timezone.now()
    for name, value in fields.items():
        setattr(job, name, value)
    job.save(update_fields=["status", "error_message", "finished_at", *fields])


@dataclass
class _Progress:
    """Saves progress on the ordinary (autocommit) connection and reads the cancel flag: between chunks."""

    job_id: int
    done: int = 0
    total: int = 0

    def save(self, *, rows: int) -> None:
        self.done = rows
        ReportJob.objects.filter(pk=self.job_id).update(
            progress_done=rows, progress_total=max(self.total, rows), rows=rows, heartbeat_at=timezone.now()
        )
        if ReportJob.objects.filter(pk=self.job_id, cancel_requested=True).exists():
            raise ReportCancelled


def temp_dir() -> str:
    path = settings.REPORTS_TEMP_DIR or os.path.join(settings.MEDIA_ROOT, "reports", "tmp")
    os.makedirs(path, exist_ok=True)
    return path


def report_filename(job: ReportJob) -> str:
    resolved = job.resolved or {}
    if job.kind == ReportKind.IMPORT_ERRORS:
        span = f"import-{resolved.get('import_job_id')}"
    else:
        span = f"{resolved.get('date_from')}_{resolved.get('date_to')}"
    extension = "xlsx" if job.format == ReportFormat.XLSX else ("csv.gz" if job.gzip else "csv")
    return f"{job.kind}-{job.merchant.slug}-{span}-{job.pk}.{extension}"


def _about(job: ReportJob, data_as_of: datetime) -> list[tuple[str, object]]:
    merchant = job.merchant
    local = data_as_of.astimezone(merchant.tzinfo)
    about: list[tuple[str, object]] = [
        ("Report", job.get_kind_display()),
        ("Merchant", f"{merchant.name} ({merchant.slug})"),
        ("Data as of", f"{local:%Y-%m-%d %H:%M:%S} {merchant.timezone}"),
        ("Currency", merchant.currency),
        ("Report number", str(job.pk)),
    ]
    for key, value in sorted((job.params or {}).items()):
        about.append((f"Parameter: {key}", ", ".join(value) if isinstance(value, list) else str(value)))
    if job.resolved.get("date_from"):
        about.append(("Period", f"{job.resolved['date_from']} to {job.resolved['date_to']} (local days, inclusive)"))
    return about


def _build_and_publish(job: ReportJob) -> ReportJob:
    temp_path = os.path.join(temp_dir(), f"{job.pk}-{uuid.uuid4().hex}.part")
    try:
        rows, size, digest, data_as_of = _build(job, temp_path)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temp_path)
        if isinstance(error, SoftTimeLimitExceeded | DatabaseError) and not connection.in_atomic_block:
            # The limit may have struck in the middle of a query on the ordinary connection: start a fresh one
            # to record the failure (the job's advisory lock goes with the old one; the job is finished anyway).
            with contextlib.suppress(Exception):
                connection.close()
        if isinstance(error, ReportCancelled):
            _finish(job, ReportStatus.CANCELLED, "Cancelled while it was being built; no file was kept.")
        elif isinstance(error, ReportTooLarge):
            _finish(job, ReportStatus.FAILED, str(error))
        elif isinstance(error, SoftTimeLimitExceeded):
            limit = settings.REPORTS_SOFT_TIME_LIMIT
            limit_text = f"{limit} s" if limit < 120 else f"{limit // 60} min"
            _finish(
                job,
                ReportStatus.FAILED,
                f"The report took longer than the time limit ({limit_text}) and was stopped; no file was kept. "
                "Narrow the date range or the stores, or order CSV (faster than XLSX).",
            )
        elif isinstance(error, Exception):
            logger.exception("reports: job %s failed", job.pk)
            _finish(job, ReportStatus.FAILED, _failure_message(error))
        else:
            raise  # KeyboardInterrupt, SystemExit: the job stays running; the sweeper re-queues it
        return job
    name = f"reports/{job.merchant_id}/{job.file_token}/{report_filename(job)}"
    _publish(temp_path, name)
    with transaction.atomic():
        current = ReportJob.objects.select_for_update().get(pk=job.pk)
        if current.status != ReportStatus.RUNNING:  # swept or cancelled meanwhile: keep its state
            return current
        now = timezone.now()
        _finish(
            job,
            ReportStatus.SUCCEEDED,
            "",
            file=name,
            filename=report_filename(job),
            rows=rows,
            bytes=size,
            sha256=digest,
            data_as_of=data_as_of,
            progress_done=rows,
            progress_total=rows,
            heartbeat_at=now,
            expires_at=now + timedelta(days=settings.REPORTS_EXPIRY_DAYS),
        )
    return job


def _failure_message(error: Exception) -> str:
    text = str(error)
    if "statement timeout" in text or "canceling statement" in text:
        return (
            f"A database query of this report ran longer than {settings.REPORTS_STATEMENT_TIMEOUT / 1000:g} s and "
            "was stopped; no file was kept. Narrow the date range or the stores and order it again."
        )
    if isinstance(error, NotImplementedError):
        return f"This report cannot be built here: {text}."
    return (
        f"The report stopped on an unexpected error ({error.__class__.__name__}); no file was kept. Order it "
        "again; if it happens again, contact support with the report number."
    )


def _publish(temp_path: str, name: str) -> None:
    """Move the finished file into storage atomically (same name on a re-run: one file per job)."""
    try:
        final_path = default_storage.path(name)
    except NotImplementedError:  # remote storage (S3...): upload, then drop the temporary file
        with open(temp_path, "rb") as handle:
            if default_storage.exists(name):
                default_storage.delete(name)
            default_storage.save(name, handle)
        os.remove(temp_path)
        return
    os.makedirs(os.path.dirname(final_path), exist_ok=True)
    os.replace(temp_path, final_path)


@contextlib.contextmanager
def _snapshot():
    """A REPEATABLE READ, read-only transaction on a connection of its own (progress and cancel go through the
    ordinary one, in autocommit). Inside an outer transaction (``manage.py shell``, a test) that transaction's
    snapshot is used instead: the outer one already holds one view of the data."""
    if connection.in_atomic_block:
        connection.ensure_connection()
        yield connection.connection
        return
    conn = connection.get_new_connection(connection.get_connection_params())
    try:
        conn.autocommit = False
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield conn
        conn.rollback()  # read only: nothing to commit
    finally:
        conn.close()


def _build(job: ReportJob, path: str) -> tuple[int, int, str, datetime]:
    merchant = job.merchant
    ctx = kinds.Context(
        merchant_id=merchant.pk,
        merchant_timezone=merchant.timezone,
        currency=merchant.currency,
        resolved=job.resolved,
        chunk_rows=settings.REPORTS_CHUNK_ROWS,
    )
    export = kinds.EXPORTS[job.kind]
    progress = _Progress(job.pk)
    # A report that can do both (``sales-summary``) streams out of PostgreSQL and builds its rows elsewhere.
    if isinstance(export, kinds.SqlExport) and (
        connection.vendor == "postgresql" or not isinstance(export, kinds.RowsExport)
    ):
        return _build_sql(job, export, ctx, path, progress)
    return _build_rows(job, export, ctx, path, progress)


def _writer(job: ReportJob, ctx, columns, path: str, data_as_of: datetime):
    if job.format == ReportFormat.XLSX:
        return XlsxWriter(
            path,
            columns,
            currency=ctx.currency,
            title=f"{job.get_kind_display()} — {job.merchant.name}",
            about=_about(job, data_as_of),
            created=data_as_of.replace(tzinfo=None),
        )
    return CsvWriter(path, columns, compress=job.gzip)


def _build_sql(job, export: kinds.SqlExport, ctx, path: str, progress: _Progress):
    if connection.vendor != "postgresql":
        raise NotImplementedError(
            f"the {job.kind} report streams its rows out of PostgreSQL with COPY, and this installation runs on "
            f"{connection.vendor} (the development default); set DATABASE_URL to a PostgreSQL database"
        )
    writer = None
    with _snapshot() as conn:
        try:
            with conn.cursor() as cursor:
                for setting in _session_settings(export):
                    cursor.execute(f"SET LOCAL {setting}")
                cursor.execute("SELECT now()")
                data_as_of = cursor.fetchone()[0]
                total, chunks = export.plan(cursor, ctx)
            if job.format == ReportFormat.XLSX and total is not None and total > XLSX_MAX_TOTAL_ROWS:
                raise ReportTooLarge(total)
            progress.total = total or 0
            ReportJob.objects.filter(pk=job.pk).update(progress_total=progress.total, data_as_of=data_as_of)
            streamed = job.format == ReportFormat.XLSX and total is not None
            if streamed:  # PostgreSQL renders the rows' XML (see writers.XlsxStreamWriter)
                writer = XlsxStreamWriter(
                    path,
                    export.columns(ctx),
                    total=total,
                    currency=ctx.currency,
                    title=f"{job.get_kind_display()} — {job.merchant.name}",
                    about=_about(job, data_as_of),
                    created=data_as_of.replace(tzinfo=None),
                )
            else:
                writer = _writer(job, ctx, export.columns(ctx), path, data_as_of)
            # Several CSV chunks: ``psql`` processes on the exported snapshot (one chunk: starting a process and a
            # second connection costs more than it saves). Inside an outer transaction (tests, a shell) the data
            # may be visible to that transaction only: read in process. (Streamed XLSX works the same way, see
            # ``streamed`` below, but is not switched on: not yet measured and tested enough.)
            parallel = job.format == ReportFormat.CSV and len(chunks) > 1
            parallel = parallel and conn is not connection.connection
            psql = _Psql.find() if parallel else None
            if psql is not None:
                rows = _copy_parallel(psql, conn, export, ctx, chunks, writer, progress, path, streamed=streamed)
                chunks = []
            else:
                rows = 0
            for index, chunk in enumerate(chunks):
                if job.format == ReportFormat.XLSX and not streamed:
                    sql, params = export.query(ctx, chunk, for_copy=False)
                    with conn.cursor(name=f"report_{job.pk}_{index}") as cursor:
                        cursor.itersize = FETCH_ROWS
                        cursor.execute(sql, params)
                        while batch := cursor.fetchmany(FETCH_ROWS):
                            writer.write_rows(batch)
                    rows = writer.rows
                else:
                    styles = writer.styles if streamed else None
                    options = XLSX_COPY_OPTIONS if streamed else "FORMAT csv"
                    sql, params = export.query(ctx, chunk, for_copy=True, styles=styles)
                    with conn.cursor() as cursor:
                        with cursor.copy(f"COPY ({sql}) TO STDOUT WITH ({options})", params) as copy:
                            _copy_out(copy, writer)
                        rows += max(cursor.rowcount, 0)
                    writer.rows = rows
                progress.save(rows=rows)
            size, digest = writer.close()
            writer = None
            return rows, size, digest, data_as_of
        finally:
            if writer is not None:
                writer.abort()


def _session_settings(export: kinds.SqlExport) -> list[str]:
    return [
        f"statement_timeout = {int(settings.REPORTS_STATEMENT_TIMEOUT)}",
        "work_mem = '64MB'",
        "jit = off",  # compiling each chunk's plan costs more than it saves
        *export.session_settings,
    ]


@dataclass(frozen=True)
class _Psql:
    """How to run ``psql`` on the database (as ``recommendations.compute.PsqlSource``): libpq reads the COPY
    stream in C, where psycopg hands Python one message per row (~1 s of worker CPU per million rows)."""

    executable: str
    environment: dict[str, str]

    @classmethod
    def find(cls) -> _Psql | None:
        executable = shutil.which("psql")
        if executable is None or connection.vendor != "postgresql" or _copy_processes() < 1:
            return None
        settings_dict = connection.settings_dict
        options = settings_dict.get("OPTIONS") or {}
        values = {
            "PGHOST": settings_dict.get("HOST") or "",
            "PGPORT": str(settings_dict.get("PORT") or ""),
            "PGDATABASE": settings_dict.get("NAME") or "",
            "PGUSER": settings_dict.get("USER") or "",
            "PGPASSWORD": settings_dict.get("PASSWORD") or "",
            "PGSSLMODE": options.get("sslmode", ""),
            "PGAPPNAME": "newretail-report",
        }
        environment = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        environment.update({key: value for key, value in values.items() if value})
        return cls(executable, environment)

    def spawn(self, err_path: str) -> subprocess.Popen:
        """A ``psql`` reading its script from stdin (see ``feed``)."""
        with open(err_path, "wb") as err:
            process = subprocess.Popen(  # noqa: S603 - our own fixed command; the SQL goes through stdin
                [self.executable, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-"],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=self.environment,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - a single prctl call
            )
        return process

    @staticmethod
    def feed(process: subprocess.Popen, script: str) -> None:
        process.stdin.write(script.encode())  # a few KiB: fits the pipe, never blocks
        process.stdin.close()


def _die_with_parent() -> None:
    """In the ``psql`` child: be killed with the worker (SIGKILL, hard time limit) rather than run on."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _copy_parallel(psql: _Psql, conn, export, ctx, chunks: list[dict], writer, progress: _Progress, path, *, streamed):
    """CSV (or streamed XLSX) chunks read by ``_copy_processes()`` ``psql`` processes at once, each in a
    transaction on the export's own snapshot (``pg_export_snapshot()`` / ``SET TRANSACTION SNAPSHOT``: the same
    data as a single read), each writing its chunk to a part file next to ``path``; the parts are appended to the
    writer in chunk order (hashed, optionally gzipped, in one pass), so the file is byte for byte what one
    connection would write. Between chunks: progress and the cancel flag, as on the in-process path. Returns the
    rows written."""
    import psycopg

    with conn.cursor() as cursor:
        cursor.execute("SELECT pg_export_snapshot()")
        snapshot_id = cursor.fetchone()[0]
    mogrify = psycopg.ClientCursor(conn).mogrify
    # XLSX: one line of row XML per row, which ``XlsxStreamWriter.write_xml`` takes in blocks of any size.
    options = XLSX_COPY_OPTIONS if streamed else "FORMAT csv"
    prelude = [
        "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;",
        f"SET TRANSACTION SNAPSHOT '{snapshot_id}';",
        *(f"SET LOCAL {setting};" for setting in _session_settings(export)),
        # The chunks already run side by side: parallel workers per query would only fight them for the cores.
        "SET LOCAL max_parallel_workers_per_gather = 0;",
    ]
    # chunk index → [process, part file, stderr file]; a process is in here from its start until its part has
    # been appended, so whatever interrupts the export (cancel, error, soft time limit) kills it and its files go.
    running: dict[int, list] = {}

    def start(index: int) -> None:
        sql, params = export.query(ctx, chunks[index], for_copy=True, styles=writer.styles if streamed else None)
        part = f"{path}.{index}.part"
        copy = mogrify(f"COPY ({sql}) TO STDOUT WITH ({options})", params)
        # ``\g FILE``: the COPY data go to the part file, and psql then knows the row count (``ROW_COUNT``).
        script = "\n".join([*prelude, f"{copy} \\g '{part}'", "\\warn ROWS :ROW_COUNT", "COMMIT;", ""])
        entry = running[index] = [None, part, f"{part}.err.part"]
        entry[0] = psql.spawn(entry[2])
        psql.feed(entry[0], script)

    rows = 0
    following = 0
    processes = _copy_processes()
    try:
        for index in range(len(chunks)):
            while following < len(chunks) and following < index + processes:
                start(following)
                following += 1
            process, part, err = running[index]
            code = process.wait()
            with open(err, "rb") as handle:
                messages = handle.read().decode(errors="replace")
            counts = [line for line in messages.splitlines() if line.startswith("ROWS ")]
            if code != 0 or not counts:
                raise DatabaseError(f"psql COPY of chunk {index} failed ({code}): {messages.strip()[:500]}")
            # Its slot is free: the next chunk starts before this one is appended (hashing and writing ~40 MB
            # would otherwise leave a core idle).
            if following < len(chunks):
                start(following)
                following += 1
            count = int(counts[-1].split()[1])
            if count or os.path.exists(part):
                with open(part, "rb") as handle:
                    while block := handle.read(COPY_BLOCK_BYTES):
                        writer.write_bytes(block)
            for name in (part, err):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(name)
            del running[index]
            rows += count
            writer.rows = rows
            progress.save(rows=rows)
    finally:
        for process, part, err in running.values():
            if process is not None:
                with contextlib.suppress(OSError):
                    process.kill()
                process.wait()
            for name in (part, err):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(name)
    return rows


def _copy_out(copy, writer) -> None:
    """COPY hands over one row per read: write them in blocks of about 1 MiB (one write and hash update each)."""
    block: list = []
    size = 0
    for data in copy:
        block.append(data)
        size += len(data)
        if size >= 1 << 20:
            writer.write_bytes(b"".join(block))
            block, size = [], 0
    if block:
        writer.write_bytes(b"".join(block))


def _build_rows(job, export: kinds.RowsExport, ctx, path: str, progress: _Progress):
    # The selectors run on the ordinary connection: one REPEATABLE READ transaction around all their queries
    # (inside an outer transaction, e.g. a test's, that transaction's snapshot already holds).
    snapshot = connection.vendor == "postgresql" and not connection.in_atomic_block
    with transaction.atomic():
        with connection.cursor() as cursor:
            if snapshot:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                cursor.execute(f"SET LOCAL statement_timeout = {int(settings.REPORTS_STATEMENT_TIMEOUT)}")
        data_as_of = timezone.now()
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT now()")
                data_as_of = cursor.fetchone()[0]
        rows = export.rows(ctx)
    if job.format == ReportFormat.XLSX and len(rows) > XLSX_MAX_TOTAL_ROWS:
        raise ReportTooLarge(len(rows))
    progress.total = len(rows)
    writer = _writer(job, ctx, export.columns(ctx), path, data_as_of)
    try:
        step = max(1, settings.REPORTS_CHUNK_ROWS)
        for start in range(0, len(rows), step):
            writer.write_rows(rows[start : start + step])
            progress.save(rows=min(len(rows), start + step))
        progress.save(rows=len(rows))
        size, digest = writer.close()
    except BaseException:
        writer.abort()
        raise
    return len(rows), size, digest, data_as_of


# --- e-mail --------------------------------------------------------------------------------------


def job_url(job: ReportJob) -> str:
    return settings.SITE_URL + reverse("reports:report-detail", args=[job.merchant.slug, job.pk])


def report_job_notify(job: ReportJob) -> int:
    """E-mail a scheduled report's recipients a link to the job page (never to the file). Sent once."""
    from django.core.mail import send_mail

    with transaction.atomic():
        job = ReportJob.objects.select_for_update(of=("self",)).select_related("merchant", "schedule").get(pk=job.pk)
        if job.notified_at is not None or job.schedule is None:
            return 0
        job.notified_at = timezone.now()
        job.save(update_fields=["notified_at"])
    recipients = schedule_recipients(job.schedule, job=job)
    if not recipients:
        return 0
    schedule = job.schedule
    status = "is ready" if job.status == ReportStatus.SUCCEEDED else f"has {job.get_status_display().lower()}"
    body = (
        f"The scheduled report “{schedule.name}” ({job.get_kind_display()}, {job.resolved.get('date_from')} to "
        f"{job.resolved.get('date_to')}) of {job.merchant.name} {status}.\n\n"
        f"Open it (sign-in required): {job_url(job)}\n"
    )
    if job.expires_at:
        body += f"\nThe file can be downloaded until {job.expires_at:%Y-%m-%d %H:%M} UTC.\n"
    if job.error_message:
        body += f"\n{job.error_message}\n"
    return send_mail(
        f"[{job.merchant.name}] {schedule.name} {status}",
        body,
        settings.DEFAULT_FROM_EMAIL,
        recipients,
    )


def schedule_recipients(schedule: ReportSchedule, *, job: ReportJob | None = None) -> list[str]:
    """E-mail addresses of the schedule's recipients who are still members and may open the job."""
    memberships = Membership.objects.filter(merchant_id=schedule.merchant_id, pk__in=schedule.recipients or [])
    emails = []
    for membership in memberships.select_related("user").prefetch_related("stores"):
        if membership.role == Role.STORE_MANAGER:
            allowed = {store.pk for store in membership.stores.all()}
            if job is None or job.store_ids is None or not set(job.store_ids) <= allowed:
                continue
        emails.append(membership.user.email)
    return sorted(emails)


# --- schedules -----------------------------------------------------------------------------------


def period_for(frequency: str, today: date) -> tuple[date, date]:
    """The last full week (Monday–Sunday) or month before ``today``."""
    if frequency == "weekly":
        start = today - timedelta(days=today.weekday() + 7)
        return start, start + timedelta(days=6)
    end = today.replace(day=1) - timedelta(days=1)
    return end.replace(day=1), end


def next_run_after(frequency: str, moment: datetime, tz) -> datetime:
    """The next run (Monday or the 1st, at REPORTS_SCHEDULE_HOUR local time) strictly after ``moment``."""
    local = moment.astimezone(tz)
    hour = settings.REPORTS_SCHEDULE_HOUR
    if frequency == "weekly":
        day = local.date() + timedelta(days=(7 - local.weekday()) % 7)
    else:
        day = local.date().replace(day=1)
    while True:
        candidate = datetime(day.year, day.month, day.day, hour, tzinfo=tz)
        if candidate > local:
            return candidate
        day = (
            day + timedelta(days=7)
            if frequency == "weekly"
            else (day.replace(day=28) + timedelta(days=4)).replace(day=1)
        )


def report_schedule_create(
    *, tenant: Tenant, name: str, kind: str, format: str, frequency: str, params: dict, recipients: list[int], actor
) -> ReportSchedule:  # noqa: A002
    tenant.require(Perm.MANAGE_SCHEDULES)
    if kind == ReportKind.IMPORT_ERRORS:
        raise ValidationError({"kind": "Import errors belong to one import: they cannot be scheduled."})
    params = kinds.clean_params(kind, params)
    params.pop("from", None)
    params.pop("to", None)
    params.pop("preset", None)
    # Check the filters now (with a sample range) so a broken schedule is refused here, not at 6 a.m.
    today = _merchant_today(tenant.merchant)
    start, end = period_for(frequency, today)
    kinds.resolve_params(tenant, kind, {**params, "from": start.isoformat(), "to": end.isoformat()}, today=today)
    member_ids = set(Membership.objects.filter(merchant=tenant.merchant).values_list("pk", flat=True))
    unknown = [pk for pk in recipients if pk not in member_ids]
    if unknown or not recipients:
        raise ValidationError({"recipients": "Choose one or more members of this merchant."})
    with transaction.atomic():
        schedule = ReportSchedule.objects.create(
            merchant=tenant.merchant,
            name=name,
            kind=kind,
            format=format,
            frequency=frequency,
            params=params,
            recipients=sorted(recipients),
            created_by=actor if _is_user(actor) else None,
            next_run_at=next_run_after(frequency, timezone.now(), tenant.merchant.tzinfo),
        )
        audit_record(
            action=AUDIT_SCHEDULE_CREATED,
            merchant=tenant.merchant,
            actor=actor,
            target=f"report-schedule:{schedule.pk}",
            data={"name": name, "kind": kind, "frequency": frequency},
        )
    return schedule


def report_schedule_delete(*, schedule: ReportSchedule, actor=None, request=None) -> None:
    with transaction.atomic():
        audit_record(
            action=AUDIT_SCHEDULE_DELETED,
            merchant=schedule.merchant,
            actor=actor,
            target=f"report-schedule:{schedule.pk}",
            request=request,
            data={"name": schedule.name},
        )
        schedule.delete()


def report_schedules_run(now: datetime | None = None) -> list[int]:
    """Beat (every 15 minutes): queue one job per due schedule and period; safe to run twice (unique period)."""
    now = now or timezone.now()
    created = []
    due = ReportSchedule.objects.filter(active=True, next_run_at__lte=now).values_list("pk", flat=True)
    for schedule_id in list(due):
        with transaction.atomic():
            schedule = (
                ReportSchedule.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("merchant", "created_by")
                .filter(pk=schedule_id, active=True, next_run_at__lte=now)
                .first()
            )
            if schedule is None:
                continue
            merchant = schedule.merchant
            tz = merchant.tzinfo
            run_day = schedule.next_run_at.astimezone(tz).date()
            start, end = period_for(schedule.frequency, run_day)
            schedule.last_run_at = now
            schedule.next_run_at = next_run_after(schedule.frequency, max(now, schedule.next_run_at), tz)
            schedule.save(update_fields=["last_run_at", "next_run_at"])
            if (
                not merchant.is_active
                or ReportJob.objects.filter(schedule=schedule, schedule_period_start=start).exists()
            ):
                continue
            tenant = Tenant(merchant=merchant, role=Role.ADMIN)
            params = {**schedule.params, "from": start.isoformat(), "to": end.isoformat()}
            try:
                with transaction.atomic():
                    job, _ = report_job_create(
                        tenant=tenant,
                        kind=schedule.kind,
                        format=schedule.format,
                        params=params,
                        gzip=schedule.gzip,
                        actor=schedule.created_by,
                        schedule=schedule,
                        period_start=start,
                        today=run_day,
                    )
            except (ValidationError, IntegrityError) as error:
                logger.warning("reports: schedule %s could not run: %s", schedule.pk, error)
                continue
            created.append(job.pk)
    return created


# --- housekeeping (beat) -------------------------------------------------------------------------


def _delete_file(job: ReportJob) -> None:
    if job.file:
        with contextlib.suppress(FileNotFoundError):
            default_storage.delete(job.file.name)


def report_files_expire(now: datetime | None = None) -> int:
    """Delete the files of jobs past their expiry; the job stays, marked ``expired`` (downloads answer 410)."""
    now = now or timezone.now()
    count = 0
    for job in ReportJob.objects.filter(status=ReportStatus.SUCCEEDED, expires_at__lte=now).iterator():
        _delete_file(job)
        ReportJob.objects.filter(pk=job.pk, status=ReportStatus.SUCCEEDED).update(status=ReportStatus.EXPIRED)
        count += 1
    return count


def _lock_is_free(job_id: int) -> bool:
    """No session holds the job's advisory lock: nobody is building it."""
    if connection.vendor != "postgresql":
        return True
    if job_lock_try(ADVISORY_LOCK_CLASS, job_id):
        job_lock_release(ADVISORY_LOCK_CLASS, job_id)
        return True
    return False


def report_jobs_sweep(now: datetime | None = None) -> dict[str, int]:
    """Running jobs whose worker is gone (stale heartbeat, lock free) are re-queued (or failed past
    ``MAX_ATTEMPTS``); dispatched jobs that never started are sent again; then free slots are filled."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.REPORTS_STALLED_SECONDS)
    requeued = failed = resent = 0
    for job in ReportJob.objects.filter(status=ReportStatus.RUNNING, heartbeat_at__lt=stale):
        if not _lock_is_free(job.pk):
            continue
        with transaction.atomic():
            current = ReportJob.objects.select_for_update().get(pk=job.pk)
            if current.status != ReportStatus.RUNNING:
                continue
            if current.attempts >= MAX_ATTEMPTS:
                _finish(
                    current,
                    ReportStatus.FAILED,
                    f"The report was interrupted {current.attempts} times (the worker building it stopped) and has "
                    "been given up. Order it again.",
                )
                failed += 1
            elif current.cancel_requested:
                _finish(current, ReportStatus.CANCELLED, "Cancelled.")
            else:
                current.status = ReportStatus.QUEUED
                current.dispatched_at = None
                current.save(update_fields=["status", "dispatched_at"])
                requeued += 1
    lost = ReportJob.objects.filter(status=ReportStatus.QUEUED, dispatched_at__lt=stale)
    lost_ids = list(lost.values_list("pk", flat=True))
    if lost_ids:
        lost.update(dispatched_at=now)
        _send(lost_ids)
        resent = len(lost_ids)
    for merchant_id in set(ReportJob.objects.filter(status=ReportStatus.QUEUED).values_list("merchant_id", flat=True)):
        report_jobs_dispatch(merchant_id)
    return {"requeued": requeued, "failed": failed, "resent": resent}


def report_temp_files_purge(now: float | None = None) -> int:
    """Remove temporary files older than the hard time limit (their attempt cannot still be writing them)."""
    directory = temp_dir()
    limit = (now or time.time()) - settings.REPORTS_TIME_LIMIT - 60
    removed = 0
    for entry in os.scandir(directory):
        if entry.is_file() and entry.name.endswith(".part") and entry.stat().st_mtime < limit:
            with contextlib.suppress(FileNotFoundError):
                os.remove(entry.path)
                removed += 1
    return removed
