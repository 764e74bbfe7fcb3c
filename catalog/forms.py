"""Catalogue forms: product create/edit and category create. They never save: writes go through services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from merchants.models import Merchant

from .models import Category, Product
from .validation import normalize_category_name, normalize_sku


class ProductForm(forms.ModelForm):
    """Create or edit a product of ``merchant``. Pick an existing category or type a new one.

    ``service_fields()`` gives the keyword arguments for ``product_create``/``product_update``. When editing,
    pass a copy of the product as ``instance`` (ModelForm validation writes the submitted values on it).
    """

    new_category = forms.CharField(
        label="…or a new category", required=False, max_length=120, help_text="Created when you save."
    )

    class Meta:
        model = Product
        fields = ["sku", "name", "category", "brand", "price", "active"]
        help_texts = {
            "sku": "Your stock-keeping unit, unique among your products. Case matters.",
            "price": "Selling price in your currency, e.g. 29.90. Leave empty if not sold at a fixed price.",
            "active": "Inactive products stay in reports but are not recommended.",
        }

    def __init__(self, *args: Any, merchant: Merchant, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.merchant = merchant
        self.fields["category"].queryset = Category.objects.for_merchant(merchant).order_by("name")
        self.fields["category"].empty_label = "No category"
        self.fields["price"].widget.attrs.update({"min": "0", "step": "0.01", "inputmode": "decimal"})
        self.fields["sku"].widget.attrs.update({"spellcheck": "false"})

    def clean_sku(self) -> str:
        sku = normalize_sku(self.cleaned_data["sku"])
        clash = Product.objects.for_merchant(self.merchant).filter(sku=sku).exclude(pk=self.instance.pk).exists()
        if clash:
            raise ValidationError(f"The SKU {sku} is already used by another product.")
        return sku

    def clean_new_category(self) -> str | None:
        return normalize_category_name(self.cleaned_data.get("new_category"))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("new_category") and cleaned.get("category"):
            self.add_error("new_category", "Choose an existing category or type a new one, not both.")
        return cleaned

    def service_fields(self) -> dict[str, Any]:
        fields = {name: self.cleaned_data[name] for name in self.Meta.fields}
        if self.cleaned_data.get("new_category"):
            fields["category"] = self.cleaned_data["new_category"]  # a name: the service finds or creates it
        return fields


class CategoryForm(forms.Form):
    name = forms.CharField(label="New category", max_length=120)
