"""Reads of the reports app: which jobs and schedules a tenant sees.

A store manager sees a job only while every store it was built on is still theirs (a job over every store, or
one built before they lost a store, is not theirs to open or download); everyone else in the merchant sees all
the merchant's jobs.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from merchants.tenancy import Tenant

from .models import ReportJob, ReportSchedule

LIST_LIMIT = 50


def report_job_visible(tenant: Tenant, job: ReportJob) -> bool:
    if job.merchant_id != tenant.merchant.pk:
        return False
    if tenant.store_ids is None:
        return True
    return job.store_ids is not None and set(job.store_ids) <= tenant.store_ids


def report_job_list(*, tenant: Tenant, limit: int = LIST_LIMIT) -> list[ReportJob]:
    queryset = (
        tenant.scope(ReportJob).select_related("requested_by", "api_key", "schedule").order_by("-created_at", "-pk")
    )
    if tenant.store_ids is None:
        return list(queryset[:limit])
    # Store managers: their jobs are those on their stores only (a short list; the JSON check is done here).
    return [job for job in queryset.exclude(store_ids=None)[: limit * 4] if report_job_visible(tenant, job)][:limit]


def report_job_get(*, tenant: Tenant, pk: int, for_update: bool = False) -> ReportJob:
    """One job of this tenant, or 404 (missing, another merchant's, or on stores a store manager lacks)."""
    queryset = tenant.scope(ReportJob).select_related("merchant", "requested_by", "api_key", "schedule")
    job = queryset.filter(pk=pk).first()
    if job is None or not report_job_visible(tenant, job):
        raise Http404("No such report.")
    return job


def report_schedule_list(*, tenant: Tenant) -> QuerySet[ReportSchedule]:
    return tenant.scope(ReportSchedule).select_related("created_by").order_by("name", "pk")
