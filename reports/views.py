"""Reports pages under ``/m/<merchant>/reports/``: the catalogue (one form per report, pre-filled from the
dashboard's "export this" links: ``?kind=...&from=...``), the jobs with a live progress bar (htmx polling while
queued or running), a job's page, cancel, retry, the authorised download, and schedules.

Every role orders and reads reports (a store manager only on their own stores); schedules need
``Perm.MANAGE_SCHEDULES`` (owners and admins).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.http import FileResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.generic import TemplateView, View

from merchants.tenancy import MerchantViewMixin, Perm

from . import selectors, services
from .forms import ReportRequestForm, ScheduleForm, filter_choices, initial_from_query
from .kinds import DESCRIPTIONS
from .models import ReportJob, ReportKind, ReportSchedule, ReportStatus


def _form_errors(form, error: ValidationError) -> None:
    fields = {"from": "date_from", "to": "date_to"}
    if hasattr(error, "error_dict"):
        for key, messages_ in error.message_dict.items():
            field = fields.get(key, key)
            for message in messages_:
                form.add_error(field if field in form.fields else None, message)
    else:
        for message in error.messages:
            form.add_error(None, message)


class ReportsPageMixin(MerchantViewMixin):
    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["nav"] = "reports"
        context["can_schedule"] = self.tenant.has(Perm.MANAGE_SCHEDULES)
        return context

    def job_url(self, job: ReportJob) -> str:
        return reverse("reports:report-detail", args=[self.tenant.merchant.slug, job.pk])

    def get_job(self) -> ReportJob:
        return selectors.report_job_get(tenant=self.tenant, pk=self.kwargs["pk"])

    def http_method_not_allowed(self, request, *args, **kwargs):
        if "pk" in self.kwargs:
            self.get_job()  # someone else's job is a 404 whatever the method
        return super().http_method_not_allowed(request, *args, **kwargs)


class ReportListView(ReportsPageMixin, TemplateView):
    template_name = "reports/report_list.html"

    def catalogue(self, bound: ReportRequestForm | None = None) -> list[dict]:
        wanted = self.request.GET.get("kind")
        initial = initial_from_query(self.request.GET) if wanted in ReportKind.values else {}
        choices = filter_choices(self.tenant)
        entries = []
        for kind, label in ReportKind.choices:
            if bound is not None and bound.kind == kind:
                form = bound
            else:
                form = ReportRequestForm(
                    tenant=self.tenant,
                    kind=kind,
                    choices=choices,
                    initial=initial if kind == wanted else {},
                    auto_id=f"id_{kind}_%s",
                )
            entries.append(
                {
                    "kind": kind,
                    "label": label,
                    "description": DESCRIPTIONS[kind],
                    "form": form,
                    "open": kind == wanted or form is bound,
                }
            )
        return entries

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["catalogue"] = self.catalogue(kwargs.get("bound"))
        context["jobs"] = selectors.report_job_list(tenant=self.tenant)
        return context

    def post(self, request, *args, **kwargs):
        kind = request.POST.get("kind", "")
        if kind not in ReportKind.values:
            messages.error(request, "Choose a report to order.")
            return self.render_to_response(self.get_context_data(), status=400)
        form = ReportRequestForm(request.POST, tenant=self.tenant, kind=kind, auto_id=f"id_{kind}_%s")
        if form.is_valid():
            try:
                job, created = services.report_job_create(
                    tenant=self.tenant,
                    kind=kind,
                    format=form.cleaned_data["format"],
                    gzip=form.cleaned_data.get("gzip") or False,
                    params=form.params(),
                    actor=request.user,
                    request=request,
                )
            except ValidationError as error:
                _form_errors(form, error)
            else:
                if created:
                    messages.success(request, f"Report #{job.pk} is queued: it appears below when it is ready.")
                else:
                    messages.info(request, f"The same report is already being built: report #{job.pk}.")
                return HttpResponseRedirect(self.job_url(job))
        return self.render_to_response(self.get_context_data(bound=form), status=400)


class ReportDetailView(ReportsPageMixin, TemplateView):
    template_name = "reports/report_detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        job = self.get_job()
        context["job"] = job
        context["params_display"] = [
            (key, ", ".join(value) if isinstance(value, list) else value) for key, value in sorted(job.params.items())
        ]
        context["can_cancel"] = _can_cancel(self.tenant, self.request.user, job)
        return context


def _can_cancel(tenant, user, job: ReportJob) -> bool:
    return job.is_pending and (tenant.has(Perm.MANAGE_SCHEDULES) or job.requested_by_id == getattr(user, "pk", None))


class ReportProgressView(ReportsPageMixin, TemplateView):
    """The progress fragment polled by htmx every second; when the job is done the page reloads."""

    template_name = "reports/_progress.html"

    def get(self, request, *args, **kwargs):
        job = self.get_job()
        response = render(request, self.template_name, {"job": job, "merchant": self.tenant.merchant})
        if not job.is_pending and request.headers.get("HX-Request"):
            response["HX-Refresh"] = "true"
        return response


class ReportCancelView(ReportsPageMixin, View):
    def get(self, request, *args, **kwargs):
        return HttpResponseRedirect(self.job_url(self.get_job()))

    def post(self, request, *args, **kwargs):
        job = self.get_job()
        if not _can_cancel(self.tenant, request.user, job) and job.is_pending:
            messages.error(request, "Only the person who ordered this report, or an owner or admin, can cancel it.")
            return HttpResponseRedirect(self.job_url(job))
        try:
            job = services.report_job_cancel(job=job, actor=request.user, request=request)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            if job.status == ReportStatus.CANCELLED:
                messages.success(request, f"Report #{job.pk} is cancelled.")
            else:
                messages.info(request, f"Report #{job.pk} will stop after the part it is writing.")
        return HttpResponseRedirect(self.job_url(job))


class ReportRetryView(ReportsPageMixin, View):
    def get(self, request, *args, **kwargs):
        return HttpResponseRedirect(self.job_url(self.get_job()))

    def post(self, request, *args, **kwargs):
        job = self.get_job()
        try:
            new_job, _ = services.report_job_retry(tenant=self.tenant, job=job, actor=request.user, request=request)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return HttpResponseRedirect(self.job_url(job))
        messages.success(request, f"Report #{new_job.pk} is queued (the same report as #{job.pk}).")
        return HttpResponseRedirect(self.job_url(new_job))


def file_response(job: ReportJob) -> FileResponse:
    """The job's file as an attachment (RFC 6266 ``Content-Disposition`` with the job's file name)."""
    content_type = (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        if job.format == "xlsx"
        else ("application/gzip" if job.gzip else "text/csv; charset=utf-8")
    )
    response = FileResponse(
        default_storage.open(job.file.name, "rb"), as_attachment=True, filename=job.filename, content_type=content_type
    )
    response["X-Report-SHA256"] = job.sha256
    response["Cache-Control"] = "private, no-store"
    return response


def download_state(job: ReportJob) -> str:
    """``ready``, ``gone`` (expired or its file missing: 410) or ``not_ready``."""
    if job.status == ReportStatus.EXPIRED or (
        job.status == ReportStatus.SUCCEEDED and job.expires_at and job.expires_at <= timezone.now()
    ):
        return "gone"
    if job.status != ReportStatus.SUCCEEDED:
        return "not_ready"
    if not job.file or not default_storage.exists(job.file.name):
        return "gone"
    return "ready"


class ReportDownloadView(ReportsPageMixin, View):
    def get(self, request, *args, **kwargs):
        job = self.get_job()
        state = download_state(job)
        if state == "gone":
            return render(
                request,
                "reports/report_gone.html",
                {"job": job, "merchant": self.tenant.merchant, "tenant": self.tenant},
                status=410,
            )
        if state == "not_ready":
            messages.info(
                request, f"Report #{job.pk} is {job.get_status_display().lower()}: there is no file to download."
            )
            return HttpResponseRedirect(self.job_url(job))
        return file_response(job)


class ScheduleListView(ReportsPageMixin, TemplateView):
    template_name = "reports/schedule_list.html"
    permission = Perm.MANAGE_SCHEDULES

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.setdefault("form", kwargs.get("form") or ScheduleForm(tenant=self.tenant))
        context["schedules"] = selectors.report_schedule_list(tenant=self.tenant)
        return context

    def post(self, request, *args, **kwargs):
        form = ScheduleForm(request.POST, tenant=self.tenant)
        if form.is_valid():
            try:
                services.report_schedule_create(
                    tenant=self.tenant,
                    name=form.cleaned_data["name"],
                    kind=form.cleaned_data["kind"],
                    format=form.cleaned_data["format"],
                    frequency=form.cleaned_data["frequency"],
                    params=form.params(),
                    recipients=form.recipient_ids(),
                    actor=request.user,
                )
            except ValidationError as error:
                _form_errors(form, error)
            else:
                messages.success(request, f"“{form.cleaned_data['name']}” is scheduled.")
                return HttpResponseRedirect(reverse("reports:schedule-list", args=[self.tenant.merchant.slug]))
        return self.render_to_response(self.get_context_data(form=form), status=400)


class ScheduleDeleteView(ReportsPageMixin, View):
    permission = Perm.MANAGE_SCHEDULES

    def get_schedule(self) -> ReportSchedule:
        return self.tenant.get_object(ReportSchedule, pk=self.kwargs["pk"])

    def get(self, request, *args, **kwargs):
        self.get_schedule()
        return HttpResponseRedirect(reverse("reports:schedule-list", args=[self.tenant.merchant.slug]))

    def post(self, request, *args, **kwargs):
        schedule = self.get_schedule()
        services.report_schedule_delete(schedule=schedule, actor=request.user, request=request)
        messages.success(request, f"“{schedule.name}” is no longer scheduled.")
        return HttpResponseRedirect(reverse("reports:schedule-list", args=[self.tenant.merchant.slug]))
