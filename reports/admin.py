"""Staff admin for reports: find any job (read-only), re-run a failed one, see and pause schedules."""

from __future__ import annotations

from django.contrib import admin, messages

from . import services
from .models import ReportJob, ReportSchedule, ReportStatus


@admin.register(ReportJob)
class ReportJobAdmin(admin.ModelAdmin):
    list_display = ["id", "merchant", "kind", "format", "status", "rows", "bytes", "created_at", "finished_at"]
    list_filter = ["status", "kind", "format"]
    search_fields = ["=id", "merchant__slug", "merchant__name", "sha256"]
    list_select_related = ["merchant"]
    show_full_result_count = False
    actions = ["rerun"]
    readonly_fields = [field.name for field in ReportJob._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Re-run (failed, cancelled or stalled jobs: queued again)")
    def rerun(self, request, queryset):
        ids = list(
            queryset.filter(status__in=[ReportStatus.FAILED, ReportStatus.CANCELLED]).values_list("pk", flat=True)
        )
        queryset.filter(pk__in=ids).update(
            status=ReportStatus.QUEUED, dispatched_at=None, cancel_requested=False, attempts=0, error_message=""
        )
        for merchant_id in set(queryset.filter(pk__in=ids).values_list("merchant_id", flat=True)):
            services.report_jobs_dispatch(merchant_id)
        self.message_user(request, f"{len(ids)} report(s) queued again.", messages.SUCCESS)


@admin.register(ReportSchedule)
class ReportScheduleAdmin(admin.ModelAdmin):
    list_display = ["name", "merchant", "kind", "frequency", "format", "active", "next_run_at", "last_run_at"]
    list_filter = ["frequency", "kind", "active"]
    search_fields = ["name", "merchant__slug"]
    list_select_related = ["merchant"]
    list_editable = ["active"]
    readonly_fields = ["merchant", "kind", "params", "recipients", "created_by", "last_run_at", "created_at"]
