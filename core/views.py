"""Building blocks for pages shared by several apps: the filtered list, the create page, the CSV import page
and the template download."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse

from .csv_import import CsvSpec, ImportResult
from .forms import CsvImportForm, add_service_errors
from .http import safe_next_url

MAX_ERRORS_SHOWN = 500
LIST_STATE_PARAMETERS = ("page", "sort")  # query parameters that don't narrow a list down


class FilteredListMixin:
    """A ListView whose ``get_queryset`` sets ``self.filterset``: puts it in the context as ``filter``, with
    ``is_filtered`` telling the template whether a search or filter (not paging or sorting) is in force."""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["filter"] = self.filterset
        context["is_filtered"] = any(
            value for key, value in self.request.GET.items() if key not in LIST_STATE_PARAMETERS
        )
        return context


class MerchantCreatePageMixin:
    """A FormView creating one object through a service; combine with MerchantViewMixin (``self.tenant``).

    The form takes ``merchant``. Accepts a safe ``next`` (the onboarding wizard sends users here and gets them
    back); cancelling goes to ``next`` or ``list_url_name``. Subclasses implement ``create_object`` (call the
    service; a ``ValidationError`` is shown on the form), ``created_message`` and ``object_url``.
    """

    list_url_name: str

    def create_object(self, form: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def created_message(self, obj: Any) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def object_url(self, obj: Any) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "merchant": self.tenant.merchant}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["next_url"] = safe_next_url(self.request)
        context["cancel_url"] = context["next_url"] or reverse(self.list_url_name, args=[self.tenant.merchant.slug])
        return context

    def form_valid(self, form: Any) -> HttpResponse:
        try:
            obj = self.create_object(form)
        except ValidationError as exc:
            add_service_errors(form, exc)
            return self.form_invalid(form)
        messages.success(self.request, self.created_message(obj))
        return HttpResponseRedirect(safe_next_url(self.request) or self.object_url(obj))


class MerchantUpdatePageMixin:
    """A FormView editing one object through a service; combine with MerchantViewMixin (``self.tenant``).

    The form takes ``merchant`` and a copy of the object as ``instance`` (ModelForm validation writes the
    submitted values on its instance, and the service must see the stored values to know what changed). The
    object is in the context as ``object_context_name``; cancelling and saving go to ``object_url``.
    Subclasses implement ``get_target`` (the object, fetched once), ``update_object`` (call the service; a
    ``ValidationError`` is shown on the form), ``saved_message`` and ``object_url``.
    """

    object_context_name: str

    def get_target(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def update_object(self, obj: Any, form: Any) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def saved_message(self, obj: Any) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def object_url(self, obj: Any) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "merchant": self.tenant.merchant, "instance": copy.copy(self.get_target())}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context[self.object_context_name] = self.get_target()
        context["cancel_url"] = self.object_url(self.get_target())
        return context

    def form_valid(self, form: Any) -> HttpResponse:
        obj = self.get_target()
        try:
            self.update_object(obj, form)
        except ValidationError as exc:
            add_service_errors(form, exc)
            return self.form_invalid(form)
        messages.success(self.request, self.saved_message(obj))
        return HttpResponseRedirect(self.object_url(obj))


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
