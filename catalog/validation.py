"""The rules for catalogue data, shared by the model, the forms, the CSV import and the API.

Decisions:

- **SKUs** are case-sensitive and kept exactly as given, minus surrounding spaces: e-commerce platforms and
  POS systems treat ``ab-1`` and ``AB-1`` as different items, and order lines are matched by exact SKU.
  1–64 printable characters (``/`` and spaces inside are allowed; control characters are not).
- **Category names** match case-insensitively (``shoes`` finds ``Shoes``); a new name creates the category
  with the spelling first seen.
- **Prices** are decimals with a dot and at most 2 decimal places, zero or more, in the merchant's currency;
  no currency symbols or thousands separators.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError

SKU_MAX_LENGTH = 64
CATEGORY_NAME_MAX_LENGTH = 120
PRICE_MAX = Decimal("9999999999.99")  # max_digits=12, decimal_places=2

TRUE_WORDS = frozenset({"1", "true", "t", "yes", "y", "on", "active"})
FALSE_WORDS = frozenset({"0", "false", "f", "no", "n", "off", "inactive"})


def normalize_sku(value: str) -> str:
    return (value or "").strip()


def validate_sku(value: str) -> None:
    if not value or value != value.strip():
        raise ValidationError("An SKU cannot be empty or start or end with spaces.", code="invalid_sku")
    if len(value) > SKU_MAX_LENGTH:
        raise ValidationError(
            "An SKU has at most %(max)s characters (this one has %(length)s).",
            params={"max": SKU_MAX_LENGTH, "length": len(value)},
            code="invalid_sku",
        )
    if any(ord(character) < 32 or ord(character) == 127 for character in value):
        raise ValidationError(
            "An SKU cannot contain line breaks, tabs or other control characters.", code="invalid_sku"
        )


def normalize_category_name(value: str | None) -> str | None:
    """Strip; blank means no category (None). Raises ValidationError when too long."""
    name = " ".join((value or "").split())
    if not name:
        return None
    if len(name) > CATEGORY_NAME_MAX_LENGTH:
        raise ValidationError(
            "A category name has at most %(max)s characters.", params={"max": CATEGORY_NAME_MAX_LENGTH}
        )
    return name


def parse_price(value: str | Decimal | int | float) -> Decimal:
    text = str(value).strip()
    if "," in text and "." not in text:
        raise ValidationError(
            "“%(value)s” is not a price: use a dot for decimals (12.50), no thousands separator.",
            params={"value": text},
            code="invalid_price",
        )
    try:
        price = Decimal(text)
    except InvalidOperation:
        price = None
    if price is None or not price.is_finite():
        raise ValidationError(
            "“%(value)s” is not a price: give a number like 12.50, without currency symbol.",
            params={"value": text},
            code="invalid_price",
        )
    if price < 0:
        raise ValidationError("A price cannot be negative (%(value)s).", params={"value": text}, code="negative_price")
    if price != price.quantize(Decimal("0.01")):
        raise ValidationError(
            "“%(value)s” has more than 2 decimal places.", params={"value": text}, code="invalid_price"
        )
    if price > PRICE_MAX:
        raise ValidationError("“%(value)s” is too large for a price.", params={"value": text}, code="invalid_price")
    return price.quantize(Decimal("0.01"))


def parse_bool(value: str) -> bool:
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValidationError(
        "“%(value)s” is not yes or no: use true/false, yes/no or 1/0.", params={"value": value}, code="invalid_bool"
    )
