"""The product CSV format: columns, documentation and per-row validation.

Rows are matched to existing products by exact ``sku``: a known SKU updates the product, an unknown one creates
it; nothing is deleted. Only the columns present in the file are written. An empty cell clears the value
(no category, no brand, no price), except ``active``, where empty means active.
"""

from __future__ import annotations

from core.csv_import import Column, CsvSpec

from .models import Product
from .validation import normalize_category_name, normalize_sku, parse_bool, parse_price, validate_sku


def _sku(text: str) -> str:
    sku = normalize_sku(text)
    validate_sku(sku)
    return sku


def _model_text(field_name: str):
    model_field = Product._meta.get_field(field_name)

    def parse(text: str) -> str:
        return model_field.clean(text, None)

    return parse


PRODUCT_CSV_SPEC = CsvSpec(
    name="products",
    key="sku",
    max_rows=100_000,
    columns=(
        Column(
            "sku",
            required=True,
            blank=False,
            parse=_sku,
            description="Your SKU, unique among your products. Case matters; up to 64 characters.",
            example="TSH-ORG-M-BLU",
        ),
        Column(
            "name",
            required=True,
            blank=False,
            parse=_model_text("name"),
            description="Product name.",
            example="Organic cotton T-shirt, blue, M",
        ),
        Column(
            "category",
            parse=normalize_category_name,
            empty=None,
            description="Category name; a new name creates the category. Empty: no category.",
            example="T-shirts",
        ),
        Column("brand", parse=_model_text("brand"), description="Brand.", example="Maison Alpha"),
        Column(
            "price",
            parse=parse_price,
            empty=None,
            description="Selling price in your currency, with a dot for decimals (19.90). Empty: no price.",
            example="29.90",
        ),
        Column(
            "active",
            parse=parse_bool,
            empty=True,
            description="true/false, yes/no or 1/0. Empty: active.",
            example="true",
        ),
    ),
)
