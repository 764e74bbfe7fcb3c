"""Sales import pages under ``/m/<merchant>/sales/imports/``: list + upload, a job's detail with its progress
bar (htmx polling while queued/running), errors, the error CSV and the store mapping form.

Every role reads; uploading and mapping stores need ``Perm.MANAGE_STORES`` (owners and admins).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.generic import DetailView, ListView, View

from merchants.tenancy import MerchantViewMixin, Perm
from stores.models import Store

from .forms import ImportUploadForm, StoreMappingForm
from .imports import ACTIVE, import_job_create, import_job_map_stores, job_progress, row_errors_csv
from .models import ImportJob, ImportRowError, ImportStatus

ERRORS_SHOWN = 100


class SalesPageMixin(MerchantViewMixin):
    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["nav"] = "sales-imports"
        context["can_import"] = self.tenant.has(Perm.MANAGE_STORES)
        return context

    def job_url(self, job: ImportJob) -> str:
        return reverse("sales:import-detail", args=[self.tenant.merchant.slug, job.pk])


class ImportListView(SalesPageMixin, ListView):
    template_name = "sales/import_list.html"
    context_object_name = "jobs"
    paginate_by = 25
    permission_by_method = {"POST": Perm.MANAGE_STORES}

    def get_queryset(self):
        return self.tenant.scope(ImportJob).select_related("created_by", "api_key").order_by("-created_at", "-pk")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.setdefault("form", ImportUploadForm())
        return context

    def post(self, request, *args, **kwargs):
        form = ImportUploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                job = import_job_create(
                    merchant=self.tenant.merchant,
                    file=form.cleaned_data["file"],
                    format=form.cleaned_data["format"] or None,
                    mode=form.cleaned_data["mode"],
                    actor=request.user,
                    request=request,
                )
            except ValidationError as error:
                for message in error.messages:
                    form.add_error(None, message)
            else:
                messages.success(request, f"“{job.original_name}” is uploaded: the import has started.")
                return HttpResponseRedirect(self.job_url(job))
        self.object_list = self.get_queryset()
        return self.render_to_response(self.get_context_data(form=form), status=400)


class ImportJobMixin(SalesPageMixin):
    def get_object(self, queryset=None) -> ImportJob:
        return self.tenant.get_object(ImportJob.objects.select_related("created_by", "api_key"), pk=self.kwargs["pk"])

    def http_method_not_allowed(self, request, *args, **kwargs) -> HttpResponse:
        self.get_object()  # someone else's job is a 404 whatever the method
        return super().http_method_not_allowed(request, *args, **kwargs)


class ImportDetailView(ImportJobMixin, DetailView):
    template_name = "sales/import_detail.html"
    context_object_name = "job"
    permission_by_method = {"POST": Perm.MANAGE_STORES}

    def mapping_form(self, job: ImportJob, data=None) -> StoreMappingForm | None:
        if job.status != ImportStatus.NEEDS_MAPPING:
            return None
        stores = self.tenant.scope(Store).order_by("name")
        return StoreMappingForm(data, names=list(job.unknown_stores), stores=stores)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        job = self.object
        context["progress"] = job_progress(job)
        context["active"] = job.status in ACTIVE
        context["errors"] = list(self.tenant.scope(ImportRowError).filter(job=job).order_by("row", "id")[:ERRORS_SHOWN])
        context["errors_shown"] = ERRORS_SHOWN
        context.setdefault("mapping_form", self.mapping_form(job))
        context["store_create_url"] = (
            reverse("stores:store-create", args=[self.tenant.merchant.slug]) + "?next=" + self.request.path
        )
        return context

    def post(self, request, *args, **kwargs):
        self.object = job = self.get_object()
        form = self.mapping_form(job, request.POST)
        if form is None:
            messages.error(request, "This import is not waiting for a store mapping.")
            return HttpResponseRedirect(self.job_url(job))
        if form.is_valid():
            try:
                import_job_map_stores(job=job, mapping=form.mapping(), actor=request.user, request=request)
            except ValidationError as error:
                for message in error.messages:
                    form.add_error(None, message)
            else:
                messages.success(request, "Stores mapped: the import has started again.")
                return HttpResponseRedirect(self.job_url(job))
        return self.render_to_response(self.get_context_data(mapping_form=form), status=400)


class ImportProgressView(ImportJobMixin, DetailView):
    """The progress fragment polled by htmx every second; when the job is done the page reloads."""

    template_name = "sales/_import_progress.html"
    context_object_name = "job"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["progress"] = job_progress(self.object)
        context["active"] = self.object.status in ACTIVE
        return context

    def render_to_response(self, context, **response_kwargs) -> HttpResponse:
        response = super().render_to_response(context, **response_kwargs)
        if not context["active"] and self.request.headers.get("HX-Request"):
            response["HX-Refresh"] = "true"  # show the finished page: errors, mapping form
        return response


class ImportErrorsCsvView(ImportJobMixin, View):
    def get(self, request, *args, **kwargs):
        job = self.get_object()
        # At most ROW_ERROR_CAP (10,000) rows: small enough to answer in one piece.
        errors = self.tenant.scope(ImportRowError).filter(job=job).order_by("row", "id").iterator(chunk_size=2_000)
        response = HttpResponse("".join(row_errors_csv(errors)), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-errors.csv"'
        return response
