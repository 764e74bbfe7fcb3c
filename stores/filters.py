"""Search, filters and sort order of the store list."""

from __future__ import annotations

import django_filters
from django.db.models import Q
from django_countries import countries

from .models import Store, StoreStatus


class StoreFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    status = django_filters.ChoiceFilter(choices=StoreStatus.choices, empty_label="Any status")
    region = django_filters.ChoiceFilter(choices=(), empty_label="Any region")
    country = django_filters.ChoiceFilter(choices=(), empty_label="Any country")
    sort = django_filters.OrderingFilter(
        fields=(("code", "code"), ("name", "name"), ("city", "city"), ("opened_on", "opened_on")),
        field_labels={"code": "Code", "name": "Name", "city": "City", "opened_on": "Opening date"},
        label="Sort by",
        empty_label="Code",
    )

    class Meta:
        model = Store
        fields: list[str] = []

    def __init__(self, *args, regions: list[str] = (), country_codes: list[str] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.filters["region"].extra["choices"] = [(region, region) for region in regions]
        self.filters["country"].extra["choices"] = [(code, countries.name(code) or code) for code in country_codes]

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(code__icontains=value) | Q(name__icontains=value) | Q(city__icontains=value))
