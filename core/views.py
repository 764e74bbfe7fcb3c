"""Building blocks for pages shared by several apps: the CSV import page and the template download."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse

from .csv_import import CsvSpec, ImportResult
from .forms import CsvImportForm
from .http import safe_next_url

MAX_ERRORS_SHOWN = 500


class CsvImportPageMixin:
    """A FormView for an import page; combine with MerchantViewMixin (which resolves ``self.tenant``).

    Subclasses set ``spec``, ``template_url_name``, ``success_url_name`` and implement ``run_import``.
    A clean import redirects (to a safe ``next`` if given) with a message; otherwise the page is shown again
    with the summary and a table of every error (row, column, value, reason).
    """

    form_class = CsvImportForm
    spec: CsvSpec
    template_url_name: str
    success_url_name: str
    entity_label: str = "rows"

    def run_import(self, *, file: Any, mode: str) -> ImportResult:  # pragma: no cover - abstract
        raise NotImplementedError

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        slug = self.tenant.merchant.slug
        template_url = reverse(self.template_url_name, args=[slug])
        context.update(
            spec=self.spec,
            template_url=template_url,
            example_url=f"{template_url}?example=1",
            next_url=safe_next_url(self.request),
            cancel_url=safe_next_url(self.request) or reverse(self.success_url_name, args=[slug]),
            entity_label=self.entity_label,
        )
        result = kwargs.get("result")
        if result is not None:
            context["errors_shown"] = result.errors[:MAX_ERRORS_SHOWN]
            context["errors_hidden"] = max(0, result.error_count - MAX_ERRORS_SHOWN)
        return context

    def form_valid(self, form: CsvImportForm) -> HttpResponse:
        try:
            result = self.run_import(file=form.cleaned_data["file"], mode=form.cleaned_data["mode"])
        except ValidationError as exc:  # a concurrent change: nothing was written
            form.add_error(None, exc)
            return self.form_invalid(form)
        if result.ok:
            messages.success(self.request, f"Import done. {result.summary()}")
            return HttpResponseRedirect(
                safe_next_url(self.request) or reverse(self.success_url_name, args=[self.tenant.merchant.slug])
            )
        if result.applied:
            messages.warning(self.request, f"Import done with errors. {result.summary()}")
        else:
            messages.error(self.request, result.summary())
        return self.render_to_response(self.get_context_data(form=form, result=result))


class CsvTemplateDownloadMixin:
    """Serves the header-only template of ``spec``, or with ``?example=1`` the example file of the repository."""

    spec: CsvSpec
    example_path: str  # relative to BASE_DIR

    def get(self, request, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.GET.get("example"):
            content = (Path(settings.BASE_DIR) / self.example_path).read_bytes()
            filename = f"{self.spec.name}-example.csv"
        else:
            content = self.spec.template_csv().encode()
            filename = f"{self.spec.name}-template.csv"
        response = HttpResponse(content, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
