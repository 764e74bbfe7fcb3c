"""Every write to the catalogue: products one at a time, the set-based upsert by SKU, the CSV import, and
categories.

Functions raise ``django.core.exceptions.ValidationError`` (a dict keyed by field name where it concerns a
field) for bad input. ``actor`` is a user or the API's key principal; the audit row records either.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.http import HttpRequest

from core.audit import audit, audit_import
from core.csv_import import ImportMode, ImportResult, ParsedRow, WriteCounts, run_import
from merchants.models import AuditAction, Merchant

from .imports import PRODUCT_CSV_SPEC
from .models import Category, Product
from .validation import normalize_category_name, normalize_sku, parse_bool, parse_price, validate_sku

PRODUCT_FIELDS = frozenset({"sku", "name", "category", "brand", "price", "active", "is_placeholder"})
# The fields an upsert row may carry besides ``sku``.
UPSERT_FIELDS = ("name", "category", "brand", "price", "active")
UPSERT_BATCH_SIZE = 1_000
LOOKUP_CHUNK = 5_000


@dataclass
class UpsertResult:
    """What ``products_upsert`` did. ``unchanged`` rows matched a product that already had those values
    (they are not written)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    created_skus: list[str] = field(default_factory=list)
    updated_skus: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


# --- categories -----------------------------------------------------------------------------


def _categories_by_name(merchant: Merchant, names: Iterable[str]) -> dict[str, Category]:
    """Map lower-cased name → category, creating the missing ones. At most three queries for any number."""
    wanted: dict[str, str] = {}
    for name in names:
        wanted.setdefault(name.lower(), name)  # the first spelling seen wins
    if not wanted:
        return {}
    found: dict[str, Category] = {}
    existing = (
        Category.objects.for_merchant(merchant).annotate(lower_name=Lower("name")).filter(lower_name__in=list(wanted))
    )
    for category in existing:
        key = category.name.lower()
        if key not in found or category.name == wanted[key]:  # an exact spelling beats a case variant
            found[key] = category
    missing = [Category(merchant=merchant, name=wanted[key]) for key in wanted if key not in found]
    if missing:
        # ignore_conflicts: a concurrent import may create the same category; we read it back either way.
        Category.objects.bulk_create(missing, ignore_conflicts=True)
        for category in Category.objects.for_merchant(merchant).filter(name__in=[c.name for c in missing]):
            found[category.name.lower()] = category
    return found


@transaction.atomic
def category_create(
    *, merchant: Merchant, name: str, actor: Any, request: HttpRequest | None = None, parent: Category | None = None
) -> Category:
    """Create a category; names are unique per merchant regardless of case. (Not audited: categories are not
    a security-relevant event, and the audit log has no action for them.)"""
    try:
        clean_name = normalize_category_name(name)
    except ValidationError as exc:
        raise ValidationError({"name": exc.messages}) from exc
    if clean_name is None:
        raise ValidationError({"name": "Give the category a name."})
    clash = Category.objects.for_merchant(merchant).filter(name__iexact=clean_name).first()
    if clash is not None:
        raise ValidationError({"name": f"The category {clash.name} already exists."})
    if parent is not None and parent.merchant_id != merchant.pk:
        raise ValidationError({"parent": "Unknown category."})
    return Category.objects.create(merchant=merchant, name=clean_name, parent=parent)


# --- single products ------------------------------------------------------------------------


def _resolve_category(merchant: Merchant, value: Any) -> Category | None:
    if value is None or value == "":
        return None
    if isinstance(value, Category):
        if value.merchant_id != merchant.pk:
            raise ValidationError({"category": "Unknown category."})
        return value
    try:
        name = normalize_category_name(str(value))
    except ValidationError as exc:
        raise ValidationError({"category": exc.messages}) from exc
    return _categories_by_name(merchant, [name])[name.lower()] if name else None


def _normalise(merchant: Merchant, fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - PRODUCT_FIELDS
    if unknown:
        raise TypeError(f"Unknown product field(s): {', '.join(sorted(unknown))}")
    values = dict(fields)
    errors: dict[str, list[str]] = {}
    if "sku" in values:
        values["sku"] = normalize_sku(values["sku"])
    if "name" in values:
        values["name"] = (values["name"] or "").strip()
    if "brand" in values:
        values["brand"] = (values["brand"] or "").strip()
    if values.get("price") not in (None, ""):
        try:
            values["price"] = parse_price(values["price"])
        except ValidationError as exc:
            errors["price"] = exc.messages
    elif "price" in values:
        values["price"] = None
    if isinstance(values.get("active"), str):
        try:
            values["active"] = parse_bool(values["active"])
        except ValidationError as exc:
            errors["active"] = exc.messages
    if errors:
        raise ValidationError(errors)
    if "category" in values:
        values["category"] = _resolve_category(merchant, values["category"])
    return values


def _validate(product: Product) -> None:
    errors: dict[str, list[str]] = {}
    try:
        product.full_clean(exclude=["merchant", "category"], validate_constraints=False)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if "sku" not in errors:
        clash = Product.objects.for_merchant(product.merchant_id).filter(sku=product.sku).exclude(pk=product.pk)
        if clash.exists():
            errors.setdefault("sku", []).append(f"The SKU {product.sku} is already used by another product.")
    if errors:
        raise ValidationError(errors)


def _save(product: Product, **kwargs: Any) -> None:
    try:
        with transaction.atomic():
            product.save(**kwargs)
    except IntegrityError as exc:
        raise ValidationError({"sku": f"The SKU {product.sku} is already used by another product."}) from exc


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Category):
        return value.name
    return value


@transaction.atomic
def product_create(*, merchant: Merchant, actor: Any, request: HttpRequest | None = None, **fields: Any) -> Product:
    """Create a product. ``category`` is a Category of this merchant, a category name (created if new) or None."""
    values = _normalise(merchant, fields)
    product = Product(merchant=merchant, **values)
    _validate(product)
    _save(product)
    audit(
        action=AuditAction.PRODUCT_CREATED,
        merchant=merchant,
        actor=actor,
        target=product.sku,
        request=request,
        data={"name": product.name},
    )
    return product


@transaction.atomic
def product_update(*, product: Product, actor: Any, request: HttpRequest | None = None, **fields: Any) -> Product:
    """Change the given fields (same rules as ``product_create``); writes and audits only real changes."""
    values = _normalise(product.merchant, fields)
    changed: dict[str, list[Any]] = {}
    for name, value in values.items():
        current = getattr(product, name)
        if current != value:
            changed[name] = [_jsonable(current), _jsonable(value)]
            setattr(product, name, value)
    if not changed:
        return product
    _validate(product)
    _save(product, update_fields=[*changed, "updated_at"])
    audit(
        action=AuditAction.PRODUCT_UPDATED,
        merchant=product.merchant,
        actor=actor,
        target=product.sku,
        request=request,
        data={"changed": changed},
    )
    return product


# --- set-based upsert -----------------------------------------------------------------------


def _clean_upsert_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Defensive normalisation of rows that callers have validated already; raises ValidationError naming
    the row index for anything that would otherwise fail in the database."""
    cleaned, errors, seen = [], [], {}
    for index, row in enumerate(rows):
        unknown = set(row) - {"sku", *UPSERT_FIELDS}
        if unknown:
            raise TypeError(f"Unknown product field(s): {', '.join(sorted(unknown))}")
        values = dict(row)
        try:
            values["sku"] = normalize_sku(row.get("sku", ""))
            validate_sku(values["sku"])
            if not (row.get("name") or "").strip() and "name" in row:
                raise ValidationError("A product needs a name.")
            if "name" in values:
                values["name"] = values["name"].strip()
            if "brand" in values:
                values["brand"] = (values["brand"] or "").strip()
            if "category" in values:
                values["category"] = normalize_category_name(values["category"])
            if "price" in values:
                values["price"] = None if values["price"] in (None, "") else parse_price(values["price"])
            if "active" in values:
                values["active"] = (
                    parse_bool(values["active"]) if isinstance(values["active"], str) else values["active"]
                )
        except ValidationError as exc:
            errors.append(f"row {index} (SKU {row.get('sku', '')!s}): {' '.join(exc.messages)}")
            continue
        if values["sku"] in seen:
            errors.append(f"row {index}: SKU {values['sku']} is also on row {seen[values['sku']]}.")
            continue
        seen[values["sku"]] = index
        cleaned.append(values)
    if errors:
        raise ValidationError(errors)
    return cleaned


def _differs(product: Product, values: dict[str, Any]) -> bool:
    for name, value in values.items():
        if name == "category":
            if product.category_id != (value.pk if value is not None else None):
                return True
        elif getattr(product, name) != value:
            return True
    return False


def _upsert(merchant: Merchant, rows: list[dict[str, Any]]) -> UpsertResult:
    """The set-based core: one query for the existing products, up to three for categories, one
    INSERT ... ON CONFLICT per 1,000 new or changed rows. Unchanged rows are not written."""
    rows = _clean_upsert_rows(rows)
    result = UpsertResult()
    if not rows:
        return result
    categories = _categories_by_name(merchant, (row["category"] for row in rows if row.get("category")))
    existing: dict[str, Product] = {}
    skus = [row["sku"] for row in rows]
    for start in range(0, len(skus), LOOKUP_CHUNK):
        for product in Product.objects.for_merchant(merchant).filter(sku__in=skus[start : start + LOOKUP_CHUNK]):
            existing[product.sku] = product
    nameless = [row["sku"] for row in rows if row["sku"] not in existing and not row.get("name")]
    if nameless:
        raise ValidationError(f"New products need a name: {', '.join(nameless[:20])}.")
    # All rows of one INSERT ... ON CONFLICT update the same columns, so group rows by the fields they carry
    # (one group in practice: a CSV file or an API batch has the same columns on every row).
    groups: dict[tuple[str, ...], list[Product]] = {}
    for row in rows:
        fields = tuple(name for name in UPSERT_FIELDS if name in row)
        values = {name: row[name] for name in fields}
        if "category" in values:
            values["category"] = categories[values["category"].lower()] if values["category"] else None
        current = existing.get(row["sku"])
        if current is None:
            result.created += 1
            result.created_skus.append(row["sku"])
        elif current.is_placeholder or _differs(current, values):
            result.updated += 1
            result.updated_skus.append(row["sku"])
        else:
            result.unchanged += 1
            continue
        groups.setdefault(fields, []).append(Product(merchant=merchant, sku=row["sku"], is_placeholder=False, **values))
    for fields, products in groups.items():
        Product.objects.bulk_create(
            products,
            batch_size=UPSERT_BATCH_SIZE,
            update_conflicts=True,
            unique_fields=["merchant", "sku"],
            # A product sent with real data is no longer a placeholder awaiting review.
            update_fields=[*fields, "is_placeholder", "updated_at"],
        )
    return result


@transaction.atomic
def products_upsert(
    *, merchant: Merchant, rows: list[dict[str, Any]], actor: Any, request: HttpRequest | None = None
) -> UpsertResult:
    """Create or update products by SKU in a handful of queries, whatever the number of rows.

    ``rows``: dicts with ``sku`` and any of ``name`` (required for new products), ``category`` (a name,
    created if new; None/"" for none), ``brand``, ``price`` (Decimal or None), ``active``. A field left out
    of the rows is left unchanged on existing products. SKUs must be unique within ``rows``. Upserting a
    placeholder product (auto-created from an unknown SKU) clears its placeholder flag.
    """
    result = _upsert(merchant, rows)
    audit(
        action=AuditAction.PRODUCTS_IMPORTED,
        merchant=merchant,
        actor=actor,
        target=f"{len(rows)} product(s)",
        request=request,
        data={"source": "upsert", "rows": len(rows), **result.as_dict()},
    )
    return result


def _write_import_rows(merchant: Merchant, rows: list[ParsedRow]) -> WriteCounts:
    result = _upsert(merchant, [row.values for row in rows])
    return WriteCounts(created=result.created, updated=result.updated, unchanged=result.unchanged)


@transaction.atomic
def products_import_csv(
    *,
    merchant: Merchant,
    file: Any,
    actor: Any,
    request: HttpRequest | None = None,
    mode: str = ImportMode.ALL_OR_NOTHING,
) -> ImportResult:
    """Import a product CSV (columns in ``catalog.imports``): validate every row, then upsert by SKU through
    the same set-based path as ``products_upsert``. Modes as for stores. Never raises for bad file content."""
    result = run_import(
        file=file, spec=PRODUCT_CSV_SPEC, mode=mode, write=lambda rows: _write_import_rows(merchant, rows)
    )
    audit_import(
        result,
        action=AuditAction.PRODUCTS_IMPORTED,
        merchant=merchant,
        actor=actor,
        request=request,
        data={"source": "csv"},
    )
    return result
