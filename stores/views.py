"""Store pages under ``/m/<merchant>/stores/``: list, detail, create, edit, close/reopen, CSV import.

Reads need ``Perm.VIEW`` (a store manager sees only their stores: every read goes through the tenant's
scope); writes need ``Perm.MANAGE_STORES``. There is no delete: a store that traded must keep its history,
so a store is closed instead.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.views.generic import DetailView, FormView, ListView, TemplateView, View

from core.forms import add_service_errors
from core.views import (
    CsvImportPageMixin,
    CsvTemplateDownloadMixin,
    FilteredListMixin,
    MerchantCreatePageMixin,
    MerchantUpdatePageMixin,
)
from merchants.tenancy import MerchantViewMixin, Perm

from .filters import StoreFilter
from .forms import StoreCloseForm, StoreForm
from .imports import STORE_CSV_SPEC
from .models import Store, StoreStatus
from .selectors import store_filter_choices, store_get, store_list
from .services import store_close, store_create, store_reopen, store_update, stores_import_csv
from .validation import WEEKDAY_LABELS, WEEKDAYS


class StoresPageMixin(MerchantViewMixin):
    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["nav"] = "stores"
        context["can_manage"] = self.tenant.has(Perm.MANAGE_STORES)
        return context

    def store_url(self, store: Store) -> str:
        return reverse("stores:store-detail", args=[self.tenant.merchant.slug, store.code])


class StoreListView(StoresPageMixin, FilteredListMixin, ListView):
    template_name = "stores/store_list.html"
    context_object_name = "stores"
    paginate_by = 25

    def get_queryset(self):
        regions, country_codes = store_filter_choices(tenant=self.tenant)
        self.filterset = StoreFilter(
            self.request.GET or None,
            queryset=store_list(tenant=self.tenant),
            regions=regions,
            country_codes=country_codes,
        )
        return self.filterset.qs


class StoreDetailView(StoresPageMixin, DetailView):
    template_name = "stores/store_detail.html"
    context_object_name = "store"

    def get_object(self, queryset=None) -> Store:
        return store_get(tenant=self.tenant, code=self.kwargs["code"])

    def http_method_not_allowed(self, request, *args: Any, **kwargs: Any) -> HttpResponse:
        self.get_object()  # someone else's store is a 404 whatever the method
        return super().http_method_not_allowed(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        hours = self.object.opening_hours or {}
        context["hours"] = [(WEEKDAY_LABELS[day], hours.get(day) or []) for day in WEEKDAYS]
        return context


class StoreCreateView(StoresPageMixin, MerchantCreatePageMixin, FormView):
    """Accepts a safe ``next`` (the onboarding wizard sends users here and gets them back)."""

    permission = Perm.MANAGE_STORES
    template_name = "stores/store_form.html"
    form_class = StoreForm
    list_url_name = "stores:store-list"

    def create_object(self, form: StoreForm) -> Store:
        return store_create(
            merchant=self.tenant.merchant, actor=self.request.user, request=self.request, **form.service_fields()
        )

    def created_message(self, store: Store) -> str:
        return f"Store {store.code} — {store.name} was created."

    def object_url(self, store: Store) -> str:
        return self.store_url(store)


class StoreUpdateView(StoresPageMixin, MerchantUpdatePageMixin, FormView):
    permission = Perm.MANAGE_STORES
    template_name = "stores/store_form.html"
    form_class = StoreForm
    object_context_name = "store"

    def get_target(self) -> Store:
        if not hasattr(self, "store"):
            self.store = store_get(tenant=self.tenant, code=self.kwargs["code"])
        return self.store

    def update_object(self, store: Store, form: StoreForm) -> None:
        store_update(store=store, actor=self.request.user, request=self.request, **form.service_fields())

    def saved_message(self, store: Store) -> str:
        return f"Store {store.code} was saved."

    def object_url(self, store: Store) -> str:
        return self.store_url(store)


class StoreCloseView(StoresPageMixin, FormView):
    """Closing is the end of a store's life: there is no delete (its sales must keep pointing at it)."""

    permission = Perm.MANAGE_STORES
    template_name = "stores/store_close.html"
    form_class = StoreCloseForm

    def get(self, request, *args: Any, **kwargs: Any):
        store = self.get_store()
        if store.status == StoreStatus.CLOSED:
            messages.info(request, f"Store {store.code} is already closed.")
            return redirect(self.store_url(store))
        return super().get(request, *args, **kwargs)

    def get_store(self) -> Store:
        if not hasattr(self, "store"):
            self.store = store_get(tenant=self.tenant, code=self.kwargs["code"])
        return self.store

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "store": self.get_store()}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["store"] = self.get_store()
        return context

    def form_valid(self, form: StoreCloseForm) -> HttpResponse:
        store = self.get_store()
        try:
            store_close(
                store=store, actor=self.request.user, request=self.request, closed_on=form.cleaned_data["closed_on"]
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
            return self.form_invalid(form)
        messages.success(self.request, f"Store {store.code} is closed as of {store.closed_on:%d %B %Y}.")
        return HttpResponseRedirect(self.store_url(store))


class StoreReopenView(StoresPageMixin, TemplateView):
    """Undo a closure (e.g. one made by mistake): GET asks to confirm, POST reopens."""

    permission = Perm.MANAGE_STORES
    template_name = "stores/store_reopen.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["store"] = store_get(tenant=self.tenant, code=self.kwargs["code"])
        return context

    def post(self, request, *args: Any, **kwargs: Any) -> HttpResponse:
        store = store_get(tenant=self.tenant, code=kwargs["code"])
        if store.status == StoreStatus.ACTIVE:
            messages.info(request, f"Store {store.code} is already open.")
        else:
            store_reopen(store=store, actor=request.user, request=request)
            messages.success(request, f"Store {store.code} is open again.")
        return redirect(self.store_url(store))


class StoreImportView(StoresPageMixin, CsvImportPageMixin, FormView):
    """Accepts a safe ``next`` (the onboarding wizard sends users here and gets them back)."""

    permission = Perm.MANAGE_STORES
    template_name = "stores/store_import.html"
    spec = STORE_CSV_SPEC
    template_url_name = "stores:store-import-template"
    success_url_name = "stores:store-list"
    entity_label = "stores"

    def run_import(self, *, file: Any, mode: str):
        return stores_import_csv(
            merchant=self.tenant.merchant, file=file, actor=self.request.user, request=self.request, mode=mode
        )


class StoreImportTemplateView(MerchantViewMixin, CsvTemplateDownloadMixin, View):
    # Readable by every role: it is a header row (or the public example file), no tenant data.
    permission = Perm.VIEW
    spec = STORE_CSV_SPEC
    example_path = "examples/stores.csv"
