"""Reads behind the catalogue pages (and usable by the API), always through the tenant's scope."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from merchants.tenancy import Tenant

from .models import Category, Product


def product_list(*, tenant: Tenant) -> QuerySet[Product]:
    """Visible products with their category, in SKU order (filter with ``catalog.filters.ProductFilter``)."""
    return tenant.scope(Product).select_related("category").order_by("sku")


def product_get(*, tenant: Tenant, sku: str) -> Product:
    """One product by exact SKU; 404 when missing or another merchant's."""
    return tenant.get_object(product_list(tenant=tenant), sku=sku)


def category_list(*, tenant: Tenant) -> QuerySet[Category]:
    """Categories by name, each with ``product_count``."""
    return tenant.scope(Category).annotate(product_count=Count("products")).order_by("name")


def category_choices(*, tenant: Tenant) -> QuerySet[Category]:
    return tenant.scope(Category).order_by("name")
