"""Reads behind the store pages (and usable by the API): always through the tenant's scope, so a store manager
only ever sees their assigned stores."""

from __future__ import annotations

from django.db.models import QuerySet

from merchants.tenancy import Tenant

from .models import Store
from .validation import normalize_store_code


def store_list(*, tenant: Tenant) -> QuerySet[Store]:
    """The stores this tenant may see, in code order (filter with ``stores.filters.StoreFilter``)."""
    return tenant.scope(Store).order_by("code")


def store_get(*, tenant: Tenant, code: str) -> Store:
    """One store by code (any case); 404 when missing or not visible to this tenant."""
    return tenant.get_object(Store, code=normalize_store_code(code))


def store_filter_choices(*, tenant: Tenant) -> tuple[list[str], list[str]]:
    """The regions and country codes in use among the visible stores, for the list filters (one query)."""
    pairs = store_list(tenant=tenant).order_by().values_list("region", "country").distinct()
    regions, countries = set(), set()
    for region, country in pairs:
        if region:
            regions.add(region)
        countries.add(str(country))
    return sorted(regions), sorted(countries)
