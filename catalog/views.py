"""Catalogue pages under ``/m/<merchant>/catalog/``: products (list, detail, create, edit, CSV import) and
categories. Reads need ``Perm.VIEW``; writes ``Perm.MANAGE_CATALOG``. Products are not deleted (order lines
point at them): set them inactive instead.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.generic import DetailView, FormView, ListView, View

from core.forms import add_service_errors
from core.views import (
    CsvImportPageMixin,
    CsvTemplateDownloadMixin,
    FilteredListMixin,
    MerchantCreatePageMixin,
    MerchantUpdatePageMixin,
)
from merchants.tenancy import MerchantViewMixin, Perm

from .filters import ProductFilter
from .forms import CategoryForm, ProductForm
from .imports import PRODUCT_CSV_SPEC
from .models import Product
from .selectors import category_choices, category_list, product_get, product_list
from .services import category_create, product_create, product_update, products_import_csv


class CatalogPageMixin(MerchantViewMixin):
    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["nav"] = "catalog"
        context["can_manage"] = self.tenant.has(Perm.MANAGE_CATALOG)
        return context

    def product_url(self, product: Product) -> str:
        return reverse("catalog:product-detail", args=[self.tenant.merchant.slug, product.sku])


class ProductListView(CatalogPageMixin, FilteredListMixin, ListView):
    template_name = "catalog/product_list.html"
    context_object_name = "products"
    paginate_by = 50

    def get_queryset(self):
        self.filterset = ProductFilter(
            self.request.GET or None,
            queryset=product_list(tenant=self.tenant),
            categories=category_choices(tenant=self.tenant),
        )
        return self.filterset.qs


class ProductDetailView(CatalogPageMixin, DetailView):
    template_name = "catalog/product_detail.html"
    context_object_name = "product"

    def get_object(self, queryset=None) -> Product:
        return product_get(tenant=self.tenant, sku=self.kwargs["sku"])

    def http_method_not_allowed(self, request, *args: Any, **kwargs: Any) -> HttpResponse:
        self.get_object()  # someone else's product is a 404 whatever the method
        return super().http_method_not_allowed(request, *args, **kwargs)


class ProductCreateView(CatalogPageMixin, MerchantCreatePageMixin, FormView):
    permission = Perm.MANAGE_CATALOG
    template_name = "catalog/product_form.html"
    form_class = ProductForm
    list_url_name = "catalog:product-list"

    def create_object(self, form: ProductForm) -> Product:
        return product_create(
            merchant=self.tenant.merchant, actor=self.request.user, request=self.request, **form.service_fields()
        )

    def created_message(self, product: Product) -> str:
        return f"Product {product.sku} was created."

    def object_url(self, product: Product) -> str:
        return self.product_url(product)


class ProductUpdateView(CatalogPageMixin, MerchantUpdatePageMixin, FormView):
    permission = Perm.MANAGE_CATALOG
    template_name = "catalog/product_form.html"
    form_class = ProductForm
    object_context_name = "product"

    def get_target(self) -> Product:
        if not hasattr(self, "product"):
            self.product = product_get(tenant=self.tenant, sku=self.kwargs["sku"])
        return self.product

    def update_object(self, product: Product, form: ProductForm) -> None:
        fields = form.service_fields()
        # Saving a placeholder through this form is the human review it was waiting for.
        fields["is_placeholder"] = False
        product_update(product=product, actor=self.request.user, request=self.request, **fields)

    def saved_message(self, product: Product) -> str:
        return f"Product {product.sku} was saved."

    def object_url(self, product: Product) -> str:
        return self.product_url(product)


class ProductImportView(CatalogPageMixin, CsvImportPageMixin, FormView):
    permission = Perm.MANAGE_CATALOG
    template_name = "catalog/product_import.html"
    spec = PRODUCT_CSV_SPEC
    template_url_name = "catalog:product-import-template"
    success_url_name = "catalog:product-list"
    entity_label = "products"

    def run_import(self, *, file: Any, mode: str):
        return products_import_csv(
            merchant=self.tenant.merchant, file=file, actor=self.request.user, request=self.request, mode=mode
        )


class ProductImportTemplateView(MerchantViewMixin, CsvTemplateDownloadMixin, View):
    # Readable by every role: it is a header row (or the public example file), no tenant data.
    permission = Perm.VIEW
    spec = PRODUCT_CSV_SPEC
    example_path = "examples/products.csv"


class CategoryListView(CatalogPageMixin, ListView):
    """Everyone reads the categories; managers add one with the form on the same page."""

    permission_by_method = {"POST": Perm.MANAGE_CATALOG}
    template_name = "catalog/category_list.html"
    context_object_name = "categories"
    paginate_by = 100

    def get_queryset(self):
        return category_list(tenant=self.tenant)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["form"] = kwargs.get("form") or CategoryForm()
        return context

    def post(self, request, *args: Any, **kwargs: Any) -> HttpResponse:
        form = CategoryForm(request.POST)
        if form.is_valid():
            try:
                category = category_create(
                    merchant=self.tenant.merchant, name=form.cleaned_data["name"], actor=request.user, request=request
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, f"Category {category.name} was created.")
                return HttpResponseRedirect(reverse("catalog:category-list", args=[self.tenant.merchant.slug]))
        self.object_list = self.get_queryset()
        return self.render_to_response(self.get_context_data(form=form))
