"""Reports: a ``ReportJob`` is one file being built (or built) in Celery; a ``ReportSchedule`` orders one every
week or month.

- ``params`` is what the person asked for, as the dashboard's query keys (``from``, ``to``, ``channel``,
  ``store`` codes, ``category``, ``compare``, ``interval``, ``import_job``): shown on the page and the API, and
  written into every XLSX header sheet. ``resolved`` is the same request turned into ids at request time (dates,
  store ids after a store manager's restriction, category id): the worker reads only ``resolved``.
- ``store_ids`` is the store restriction the file was built with (``None`` = every store). A store manager may
  open and download a job only while all of those stores are still theirs.
- ``request_hash`` identifies an identical request (kind, format, resolved filters): one pending job per hash and
  merchant (a partial unique constraint), so a double click or a retried API call never queues it twice.
- ``file_token`` is the unguessable part of the stored file's name.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from merchants.models import TenantModel


class ReportKind(models.TextChoices):
    SALES_SUMMARY = "sales-summary", "Sales summary"
    PRODUCT_PERFORMANCE = "product-performance", "Product performance"
    STORE_PERFORMANCE = "store-performance", "Store performance"
    CUSTOMERS = "customers", "Customers"
    ORDER_LINES = "order-lines", "Order lines"
    IMPORT_ERRORS = "import-errors", "Import errors"


class ReportFormat(models.TextChoices):
    CSV = "csv", "CSV"
    XLSX = "xlsx", "Excel (XLSX)"


class ReportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"


PENDING_STATUSES = (ReportStatus.QUEUED, ReportStatus.RUNNING)
FINISHED_STATUSES = (ReportStatus.SUCCEEDED, ReportStatus.FAILED, ReportStatus.CANCELLED, ReportStatus.EXPIRED)


class ScheduleFrequency(models.TextChoices):
    WEEKLY = "weekly", "Every Monday, for last week"
    MONTHLY = "monthly", "On the 1st, for last month"


class ReportSchedule(TenantModel):
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=32, choices=ReportKind.choices)
    format = models.CharField(max_length=8, choices=ReportFormat.choices, default=ReportFormat.XLSX)
    gzip = models.BooleanField(default=False)
    frequency = models.CharField(max_length=16, choices=ScheduleFrequency.choices)
    params = models.JSONField(default=dict, blank=True)  # filters without dates (the range is relative)
    # Membership ids of the recipients (members of this merchant, checked again at each run).
    recipients = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    active = models.BooleanField(default=True)
    next_run_at = models.DateTimeField()
    last_run_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "pk"]
        indexes = [models.Index(fields=["merchant", "name"]), models.Index(fields=["active", "next_run_at"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_frequency_display()})"


class ReportJob(TenantModel):
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_key = models.ForeignKey("merchants.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    schedule = models.ForeignKey(ReportSchedule, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs")
    schedule_period_start = models.DateField(null=True, blank=True)
    kind = models.CharField(max_length=32, choices=ReportKind.choices)
    format = models.CharField(max_length=8, choices=ReportFormat.choices, default=ReportFormat.CSV)
    gzip = models.BooleanField(default=False)
    params = models.JSONField(default=dict, blank=True)
    resolved = models.JSONField(default=dict, blank=True)
    store_ids = models.JSONField(null=True, blank=True)
    request_hash = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=ReportStatus.choices, default=ReportStatus.QUEUED)
    # Sent to a worker (a slot among REPORTS_MAX_RUNNING); queued jobs without it wait for a free slot.
    dispatched_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    progress_done = models.BigIntegerField(default=0)
    progress_total = models.BigIntegerField(default=0)
    rows = models.BigIntegerField(default=0)
    bytes = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    file = models.FileField(upload_to="reports/", max_length=255, blank=True)
    file_token = models.CharField(max_length=64)
    filename = models.CharField(max_length=255, blank=True)  # the name the download is offered under
    error_message = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    data_as_of = models.DateTimeField(null=True, blank=True)  # the snapshot the file was read from
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["merchant", "-created_at"]),
            models.Index(fields=["merchant", "status"]),
            models.Index(fields=["status", "expires_at"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "request_hash"],
                condition=Q(status__in=["queued", "running"]),
                name="reportjob_one_pending_per_request",
            ),
            models.UniqueConstraint(
                fields=["merchant", "schedule", "schedule_period_start"],
                condition=Q(schedule__isnull=False),
                name="reportjob_one_per_schedule_period",
            ),
            models.CheckConstraint(condition=Q(progress_done__gte=0, rows__gte=0), name="reportjob_counts_positive"),
        ]

    def __str__(self) -> str:
        return f"Report #{self.pk} {self.kind} {self.status}"

    @property
    def is_pending(self) -> bool:
        return self.status in PENDING_STATUSES

    @property
    def waiting_for_slot(self) -> bool:
        """Queued and not yet handed to a worker: the merchant already has REPORTS_MAX_RUNNING reports running."""
        return self.status == ReportStatus.QUEUED and self.dispatched_at is None

    @property
    def progress_percent(self) -> int:
        if self.status == ReportStatus.SUCCEEDED:
            return 100
        if not self.progress_total:
            return 0
        return min(100, int(100 * self.progress_done / self.progress_total))
