"""Search, filters and sort order of the product list."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Q

from .models import Category, Product


class ProductFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    category = django_filters.ModelChoiceFilter(queryset=Category.objects.none(), empty_label="Any category")
    active = django_filters.ChoiceFilter(
        choices=[("yes", "Active"), ("no", "Inactive")], method="filter_active", empty_label="Active or not"
    )
    needs_review = django_filters.BooleanFilter(
        field_name="is_placeholder",
        label="Needs review only",
        widget=forms.CheckboxInput,
        method="filter_needs_review",
    )
    sort = django_filters.OrderingFilter(
        fields=(("sku", "sku"), ("name", "name"), ("price", "price"), ("updated_at", "updated_at")),
        field_labels={"sku": "SKU", "name": "Name", "price": "Price", "updated_at": "Last change"},
        label="Sort by",
        empty_label="SKU",
    )

    class Meta:
        model = Product
        fields: list[str] = []

    def __init__(self, *args, categories=None, **kwargs):
        super().__init__(*args, **kwargs)
        if categories is not None:
            self.filters["category"].queryset = categories

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(sku__icontains=value) | Q(name__icontains=value))

    def filter_active(self, queryset, name, value):
        return queryset.filter(active=value == "yes") if value in ("yes", "no") else queryset

    def filter_needs_review(self, queryset, name, value):
        return queryset.filter(is_placeholder=True) if value else queryset
