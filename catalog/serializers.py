"""Serializers of the catalog API: products (single and bulk) and categories.

Money is a decimal string (``"19.90"``) in the merchant's currency, never a float. A product names its
category by name (matched case-insensitively); an unknown name creates the category. The rules live in
``catalog.validation`` (shared with the pages, the CSV import and the services).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers
from rest_framework.fields import get_error_detail

from catalog.models import Category, Product
from catalog.validation import CATEGORY_NAME_MAX_LENGTH, SKU_MAX_LENGTH, normalize_category_name, validate_sku

BULK_MAX_PRODUCTS = 1000
SKU_HELP = (
    "The merchant's own SKU, unique per merchant and case-sensitive: 1–64 printable characters, '/' and inner "
    "spaces allowed (surrounding spaces are removed)."
)

CATEGORY_HELP = "The category's name (case-insensitive); a new name creates the category. Null or blank: none."
PRICE_HELP = 'Decimal string in the merchant\'s currency, e.g. "19.90" (at most 2 decimals); null when unknown.'


def _apply_rule(function: Callable[[Any], Any], value: Any) -> Any:
    """Run one of ``catalog.validation``'s functions, raising its Django error as the serializer's."""
    try:
        return function(value)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(get_error_detail(exc)) from None


class CategorySerializer(serializers.ModelSerializer):
    parent = serializers.CharField(source="parent.name", allow_null=True, help_text="The parent category's name.")
    product_count = serializers.IntegerField(help_text="Products in this category.")

    class Meta:
        model = Category
        fields = ["id", "name", "parent", "product_count"]
        read_only_fields = fields


class ProductOutputSerializer(serializers.ModelSerializer):
    category = serializers.CharField(source="category.name", allow_null=True, help_text="The category's name.")
    price = serializers.DecimalField(
        max_digits=12, decimal_places=2, allow_null=True, help_text="Decimal string in the merchant's currency."
    )
    is_placeholder = serializers.BooleanField(
        help_text="Created automatically from an unknown SKU in sales data, awaiting review. Sending the product "
        "(create, update or bulk) clears it."
    )

    class Meta:
        model = Product
        fields = ["sku", "name", "category", "brand", "price", "active", "is_placeholder", "created_at", "updated_at"]
        read_only_fields = fields


class ProductFieldsSerializer(serializers.Serializer):
    """The writable fields of a product."""

    sku = serializers.CharField(max_length=SKU_MAX_LENGTH, help_text=SKU_HELP)
    name = serializers.CharField(max_length=255)
    category = serializers.CharField(
        max_length=CATEGORY_NAME_MAX_LENGTH,
        allow_null=True,
        allow_blank=True,
        help_text=CATEGORY_HELP,
    )
    brand = serializers.CharField(max_length=120, allow_blank=True)
    price = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        min_value=0,
        allow_null=True,
        help_text=PRICE_HELP,
    )
    active = serializers.BooleanField()

    def validate_sku(self, value: str) -> str:
        _apply_rule(validate_sku, value)
        return value

    def validate_category(self, value: str | None) -> str | None:
        return _apply_rule(normalize_category_name, value)


class ProductInputSerializer(ProductFieldsSerializer):
    """One product as a partner sends it (create, PUT, PATCH).

    ``sku`` is taken on create only: it identifies the product in URLs and sales data and is never changed.
    PUT replaces the product: an optional field left out takes its default (no category, blank brand, no
    price, active). PATCH changes only the fields sent.
    """

    category = serializers.CharField(
        max_length=CATEGORY_NAME_MAX_LENGTH,
        allow_null=True,
        allow_blank=True,
        default=None,
        help_text=CATEGORY_HELP,
    )
    brand = serializers.CharField(max_length=120, allow_blank=True, default="")
    price = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        min_value=0,
        allow_null=True,
        default=None,
        help_text=PRICE_HELP,
    )
    active = serializers.BooleanField(default=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance is not None:
            self.fields.pop("sku")

    def validate_sku(self, value: str) -> str:
        value = super().validate_sku(value)
        if self.context["tenant"].scope(Product).filter(sku=value).exists():
            raise serializers.ValidationError(f"A product with SKU {value} already exists.", code="unique")
        return value


class ProductBulkItemSerializer(ProductFieldsSerializer):
    """One product of a bulk upsert, matched by SKU. Only the fields sent are written: a field left out keeps
    its current value on an existing product (and its default on a new one). A new product needs a name."""

    def get_fields(self):
        fields = super().get_fields()
        for name, field in fields.items():
            if name != "sku":
                field.required = False
        return fields


class ProductBulkSerializer(serializers.Serializer):
    products = ProductBulkItemSerializer(
        many=True,
        min_length=1,
        max_length=BULK_MAX_PRODUCTS,
        error_messages={
            "max_length": f"A bulk request takes at most {BULK_MAX_PRODUCTS:,} products: split it into several.",
            "min_length": "Send at least one product.",
        },
        help_text=f"1 to {BULK_MAX_PRODUCTS:,} products, each created or updated by SKU; SKUs unique in the list.",
    )

    def validate_products(self, rows: list[dict]) -> list[dict]:
        """Every SKU once; a new SKU (not in the merchant's catalog) with a name. Errors carry the item index."""
        first_index: dict[str, int] = {}
        errors: list[dict] = [{} for _ in rows]
        for index, row in enumerate(rows):
            sku = row["sku"]
            if sku in first_index:
                errors[index]["sku"] = [
                    serializers.ErrorDetail(f"SKU {sku} is already at index {first_index[sku]}.", code="duplicate")
                ]
            else:
                first_index[sku] = index
        nameless = {row["sku"] for row in rows if not row.get("name")}
        if nameless:
            known = set(self.context["tenant"].scope(Product).filter(sku__in=nameless).values_list("sku", flat=True))
            for index, row in enumerate(rows):
                if row["sku"] in nameless - known and "sku" not in errors[index]:
                    errors[index]["name"] = [
                        serializers.ErrorDetail(f"SKU {row['sku']} is a new product: give it a name.", code="required")
                    ]
        if any(errors):
            raise serializers.ValidationError(errors)
        return rows


class ProductBulkResultSerializer(serializers.Serializer):
    created = serializers.IntegerField(help_text="Products that did not exist before.")
    updated = serializers.IntegerField(help_text="Existing products (by SKU) that changed.")
    unchanged = serializers.IntegerField(help_text="Existing products that already had the values sent.")
