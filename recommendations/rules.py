"""Every write to the merchant's recommendation rules: create, change, delete, reorder, CSV import and export.

A rule says, for one product (or every product of a category), to **pin** a target product at a position,
to **exclude** it ("never show Y with X"), or — with no product nor category — to **block** it everywhere
("never recommend Y"). Its *scope* is a channel (``all``, ``online``, ``offline``) or a set of stores, plus an
optional campaign window (``starts_on``/``ends_on``, dates in the merchant's time zone, both included).

Validation (a ``ValidationError`` keyed by the API's field names, so the message lands on ``attr``):

- a pin or exclusion names exactly one of ``product`` / ``category``; a block names neither;
- no pin or exclusion of a product on itself;
- no duplicates in one scope: one target appears at most once among the pins and exclusions of one
  (product or category, channel, stores) scope, and at most once among the blocks of one scope;
- at most :data:`MAX_PINS_PER_SCOPE` pins per scope;
- a window that ends before it starts is refused;
- a product, category, target or store code of another merchant, or one that does not exist, is "unknown";
- pinning an inactive or placeholder product is allowed: :func:`rule_warnings` says why it isn't shown.

Store managers (``allowed_store_ids`` given) may only create, change and delete rules scoped to some of their
stores. Every change is audit-logged and clears the merchant's cached recommendations once committed, so the
next API answer shows it at once.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet
from django.db.models.functions import Lower
from django.http import HttpRequest

from catalog.models import Category, Product
from core.audit import audit, audit_import
from core.csv_import import Column, CsvSpec, ImportMode, ImportResult, ParsedRow, RowError, WriteCounts, run_import
from merchants.models import AuditAction, Merchant
from sales.imports import csv_safe
from stores.models import Store
from stores.validation import normalize_store_code

from .models import RecommendationRule, RecommendationRuleStore, RuleChannel, RuleKind
from .services import recommendations_cache_invalidate

MAX_PINS_PER_SCOPE = 50
RULE_FIELDS = frozenset(
    {"product", "category", "kind", "target", "position", "channel", "stores", "starts_on", "ends_on"}
)
STORE_CODES_SEPARATOR = re.compile(r"[\s,;|]+")
STORES_SCOPE = "stores"
UNSAVED_LAST = 2**62  # sorts rules not saved yet after the stored ones of the same position
LOOKUP_CHUNK = 5_000


# --- scope helpers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleScope:
    """What makes two rules "the same scope": subject (product or category or none), channel, store set."""

    product_id: int | None
    category_id: int | None
    channel: str
    store_ids: frozenset[int]

    def describe(self) -> str:
        if self.store_ids:
            return f"{len(self.store_ids)} chosen store(s)" if len(self.store_ids) > 1 else "one chosen store"
        return {RuleChannel.ALL: "all channels", RuleChannel.ONLINE: "online", RuleChannel.OFFLINE: "in store"}.get(
            self.channel, self.channel
        )


def make_scope(product_id: int | None, category_id: int | None, channel: str, store_ids: Iterable[int]) -> RuleScope:
    """With stores, the stores are the scope and the channel does not matter (they are in-store places)."""
    ids = frozenset(store_ids)
    return RuleScope(product_id, category_id, STORES_SCOPE if ids else channel, ids)


def rule_scope(rule: RecommendationRule, store_ids: Iterable[int] | None = None) -> RuleScope:
    ids = store_ids if store_ids is not None else (store.pk for store in rule.stores.all())
    return make_scope(rule.product_id, rule.category_id, rule.channel, ids)


def _same_subject(queryset: QuerySet, scope: RuleScope) -> QuerySet:
    queryset = queryset.filter(product_id=scope.product_id, category_id=scope.category_id)
    if scope.store_ids:
        return queryset.filter(store_links__store_id__in=list(scope.store_ids)).distinct()
    return queryset.filter(channel=scope.channel, store_links__isnull=True)


def _rules_in_scope(merchant: Merchant, scope: RuleScope, *, exclude_pk: int | None = None) -> list[RecommendationRule]:
    """Rules of the exact scope (same subject, channel and store set). One query plus the stores prefetch."""
    queryset = _same_subject(RecommendationRule.objects.for_merchant(merchant), scope).prefetch_related("stores")
    if exclude_pk is not None:
        queryset = queryset.exclude(pk=exclude_pk)
    return [rule for rule in queryset if frozenset(store.pk for store in rule.stores.all()) == scope.store_ids]


def rule_list_ordering() -> list[Any]:
    """How rule lists are ordered (API, pages, export): blocks first, then by product/category, scope and place."""
    is_block = ExpressionWrapper(Q(kind=RuleKind.BLOCK), output_field=BooleanField())
    return [is_block.desc(), "product__sku", "category__name", "channel", "kind", "position", "pk"]


def rules_in_scope(*, merchant: Merchant, scope: RuleScope) -> list[RecommendationRule]:
    """The rules of exactly one scope (pins by position, then exclusions), with product, category and target."""
    queryset = (
        _same_subject(RecommendationRule.objects.for_merchant(merchant), scope)
        .select_related("product", "category", "target")
        .prefetch_related("stores")
        .order_by("kind", "position", "pk")
    )
    return [rule for rule in queryset if frozenset(store.pk for store in rule.stores.all()) == scope.store_ids]


def rule_warnings(rule: RecommendationRule) -> list[str]:
    """Why a rule, valid as it is, will not show what one might expect (a pin of an inactive product)."""
    target = rule.target
    if rule.kind != RuleKind.PIN or target is None:
        return []
    warnings = []
    if target.is_placeholder:
        warnings.append(
            f"{target.sku} is a placeholder product created from an unknown SKU in sales data: it is not shown "
            "until someone completes it in the catalogue."
        )
    if not target.active:
        warnings.append(f"{target.sku} is inactive: the pin is kept but not shown while the product is inactive.")
    elif target.price is None or target.price <= 0:
        warnings.append(f"{target.sku} has no price: the pin is kept but not shown until it has one.")
    return warnings


# --- resolving names (SKUs, category names, store codes) ------------------------------------


@dataclass
class _Lookups:
    """Names resolved in bulk (a CSV file): a name missing here is unknown, without asking the database again."""

    products: dict[str, Product]
    categories: dict[str, Category]  # by lower-cased name
    stores: dict[str, Store]


def _product_by_sku(merchant: Merchant, sku: Any, attr: str, lookups: _Lookups | None = None) -> Product:
    if isinstance(sku, Product):
        if sku.merchant_id != merchant.pk:
            raise ValidationError({attr: "Unknown product."})
        return sku
    text = str(sku or "").strip()
    if not text:
        raise ValidationError({attr: "Give a product SKU."})
    if lookups is not None:
        product = lookups.products.get(text)
    else:
        product = Product.objects.for_merchant(merchant).filter(sku=text).first()
    if product is None:
        raise ValidationError({attr: f"Unknown product SKU {text}."})
    return product


def _category_by_name(merchant: Merchant, name: Any, lookups: _Lookups | None = None) -> Category:
    if isinstance(name, Category):
        if name.merchant_id != merchant.pk:
            raise ValidationError({"category": "Unknown category."})
        return name
    text = str(name or "").strip()
    if lookups is not None:
        category = lookups.categories.get(text.lower())
    else:
        category = Category.objects.for_merchant(merchant).filter(name__iexact=text).first() if text else None
    if category is None:
        raise ValidationError({"category": f"Unknown category {text}."})
    return category


def _stores_by_code(merchant: Merchant, codes: Iterable[Any], lookups: _Lookups | None = None) -> list[Store]:
    stores: list[Store] = []
    wanted: list[str] = []
    for code in codes:
        if isinstance(code, Store):
            if code.merchant_id != merchant.pk:
                raise ValidationError({"stores": "Unknown store."})
            stores.append(code)
        elif str(code).strip():
            wanted.append(normalize_store_code(str(code)))
    if wanted:
        if lookups is not None:
            found = {code: lookups.stores[code] for code in wanted if code in lookups.stores}
        else:
            found = {store.code: store for store in Store.objects.for_merchant(merchant).filter(code__in=wanted)}
        unknown = [code for code in dict.fromkeys(wanted) if code not in found]
        if unknown:
            raise ValidationError({"stores": f"Unknown store code(s): {', '.join(unknown)}."})
        stores.extend(found[code] for code in dict.fromkeys(wanted))
    return list({store.pk: store for store in stores}.values())


# --- validation ----------------------------------------------------------------------------


@dataclass
class _RuleValues:
    kind: str
    product: Product | None
    category: Category | None
    target: Product
    channel: str
    stores: list[Store]
    position: int | None
    starts_on: date | None
    ends_on: date | None

    @property
    def scope(self) -> RuleScope:
        return make_scope(
            self.product.pk if self.product else None,
            self.category.pk if self.category else None,
            self.channel,
            (store.pk for store in self.stores),
        )


def _resolve(merchant: Merchant, values: dict[str, Any], lookups: _Lookups | None = None) -> _RuleValues:
    """Turn input (SKUs, names, codes or objects) into a checked :class:`_RuleValues`; all field errors at once."""
    unknown = set(values) - RULE_FIELDS
    if unknown:
        raise TypeError(f"Unknown rule field(s): {', '.join(sorted(unknown))}")
    errors: dict[str, list[str]] = defaultdict(list)

    def collect(call, *args):
        try:
            return call(*args)
        except ValidationError as exc:
            for key, messages in exc.message_dict.items():
                errors[key].extend(messages)
            return None

    kind = values.get("kind") or ""
    if kind not in RuleKind.values:
        errors["kind"].append(f"Choose one of: {', '.join(RuleKind.values)}.")
    channel = values.get("channel") or RuleChannel.ALL
    if channel not in RuleChannel.values:
        errors["channel"].append(f"Choose one of: {', '.join(RuleChannel.values)}.")
    product = category = None
    has_product = values.get("product") not in (None, "")
    has_category = values.get("category") not in (None, "")
    if kind == RuleKind.BLOCK:
        if has_product or has_category:
            errors["product" if has_product else "category"].append(
                "A block applies to every product: give only its target, no product or category."
            )
    elif kind:
        if has_product and has_category:
            errors["category"].append("Give a product or a category, not both.")
        elif not has_product and not has_category:
            errors["product"].append(f"A {kind} rule needs the product (SKU) or the category it applies to.")
        elif has_product:
            product = collect(_product_by_sku, merchant, values["product"], "product", lookups)
        else:
            category = collect(_category_by_name, merchant, values["category"], lookups)
    target = collect(_product_by_sku, merchant, values.get("target"), "target", lookups)
    stores = collect(_stores_by_code, merchant, values.get("stores") or [], lookups) or []
    if stores and channel == RuleChannel.ONLINE:
        # Stores are in-store places: a store-scoped rule applies in those stores, whatever the channel says.
        errors["channel"].append("A rule for chosen stores applies in those stores: use channel all or offline.")
    position = values.get("position")
    if kind == RuleKind.PIN:
        if position is not None and (not isinstance(position, int) or position < 1):
            errors["position"].append("The position is a whole number from 1 (the first place).")
    elif position is not None:
        errors["position"].append("Only pins have a position.")
        position = None
    starts_on, ends_on = values.get("starts_on"), values.get("ends_on")
    if starts_on and ends_on and ends_on < starts_on:
        errors["ends_on"].append(f"The window ends ({ends_on}) before it starts ({starts_on}).")
    if product is not None and target is not None and product.pk == target.pk:
        errors["target"].append(f"A product cannot be {'pinned' if kind == RuleKind.PIN else 'excluded'} on itself.")
    if errors:
        raise ValidationError(dict(errors))
    return _RuleValues(kind, product, category, target, channel, stores, position, starts_on, ends_on)


def _kind_group(kind: str) -> str:
    # Pins and exclusions of one scope share one namespace: a target cannot be both pinned and excluded.
    return "block" if kind == RuleKind.BLOCK else "pin-exclude"


def _check_scope(
    merchant: Merchant,
    values: _RuleValues,
    *,
    exclude_pk: int | None = None,
    pending: Sequence[_RuleValues] = (),
    existing: list[RecommendationRule] | None = None,
) -> list[RecommendationRule]:
    """Duplicates and the pin limit, against the stored rules of the scope (read here unless ``existing`` gives
    them) and ``pending`` ones (the rows above, in a CSV file)."""
    if existing is None:
        existing = _rules_in_scope(merchant, values.scope, exclude_pk=exclude_pk)
    group = _kind_group(values.kind)
    scope_text = values.scope.describe()
    for rule in existing:
        if _kind_group(rule.kind) == group and rule.target_id == values.target.pk:
            raise ValidationError(
                {"target": f"{values.target.sku} already has a {rule.kind} rule in this scope ({scope_text})."}
            )
    for other in pending:
        if other.scope == values.scope and _kind_group(other.kind) == group and other.target.pk == values.target.pk:
            raise ValidationError({"target": f"{values.target.sku} appears twice in this scope ({scope_text})."})
    if values.kind == RuleKind.PIN:
        pins = sum(rule.kind == RuleKind.PIN for rule in existing)
        pins += sum(other.kind == RuleKind.PIN and other.scope == values.scope for other in pending)
        if pins >= MAX_PINS_PER_SCOPE:
            raise ValidationError(
                {"target": f"This scope ({scope_text}) already has {MAX_PINS_PER_SCOPE} pins, the most allowed."}
            )
    return existing


def _check_store_access(allowed_store_ids: frozenset[int] | None, store_ids: Iterable[int]) -> None:
    if allowed_store_ids is None:
        return
    store_ids = set(store_ids)
    if not store_ids or not store_ids <= allowed_store_ids:
        raise PermissionDenied("Store managers may only change rules scoped to their own stores.")


def _rule_new(merchant: Merchant, resolved, actor) -> RecommendationRule:
    """An unsaved rule from validated input (position 0 until its pin is placed; stores are set after saving)."""
    return RecommendationRule(
        merchant=merchant,
        kind=resolved.kind,
        product=resolved.product,
        category=resolved.category,
        target=resolved.target,
        channel=resolved.channel,
        starts_on=resolved.starts_on,
        ends_on=resolved.ends_on,
        position=0,
        created_by=_user_or_none(actor),
    )


def _user_or_none(actor: Any):
    return actor if getattr(actor, "pk", None) and not hasattr(actor, "api_key") else None


def _set_stores(rule: RecommendationRule, stores: Sequence[Store]) -> None:
    rule.stores.set(stores, through_defaults={"merchant_id": rule.merchant_id})


def _invalidate(merchant: Merchant) -> None:
    merchant_id = merchant.pk
    transaction.on_commit(lambda: recommendations_cache_invalidate(merchant_id))


def _audit_data(rule: RecommendationRule, store_codes: Sequence[str]) -> dict[str, Any]:
    return {
        "kind": rule.kind,
        "product": rule.product.sku if rule.product_id else None,
        "category": rule.category.name if rule.category_id else None,
        "target": rule.target.sku,
        "position": rule.position if rule.kind == RuleKind.PIN else None,
        "channel": rule.channel,
        "stores": list(store_codes),
        "starts_on": rule.starts_on.isoformat() if rule.starts_on else None,
        "ends_on": rule.ends_on.isoformat() if rule.ends_on else None,
    }


def rule_target_label(rule: RecommendationRule) -> str:
    subject = rule.product.sku if rule.product_id else (f"category {rule.category.name}" if rule.category_id else "*")
    return f"{rule.kind} {rule.target.sku} on {subject}"


def _order_pins(rule: RecommendationRule, position: int | None, scope_rules) -> list[RecommendationRule]:
    """Put ``rule`` at ``position`` (1-based; None: last) among the pins of its scope, renumbering them 1..n in
    memory. Returns the *other* stored pins whose position changed."""
    pins = sorted(
        (
            other
            for other in scope_rules
            if other.kind == RuleKind.PIN and other is not rule and (rule.pk is None or other.pk != rule.pk)
        ),
        key=lambda other: (other.position or 0, other.pk or UNSAVED_LAST),
    )
    index = len(pins) if position is None else max(0, min(position - 1, len(pins)))
    pins.insert(index, rule)
    changed = []
    for number, pin in enumerate(pins, start=1):
        if pin.position != number:
            pin.position = number
            changed.append(pin)
    return [pin for pin in changed if pin is not rule and pin.pk is not None]


def _place_pin(merchant: Merchant, rule: RecommendationRule, position: int | None, scope_rules) -> None:
    """:func:`_order_pins`, then save the other pins that moved."""
    others = _order_pins(rule, position, scope_rules)
    if others:
        RecommendationRule.objects.bulk_update(others, ["position"])


# --- single rules --------------------------------------------------------------------------


@transaction.atomic
def rule_create(
    *,
    merchant: Merchant,
    actor: Any,
    request: HttpRequest | None = None,
    allowed_store_ids: frozenset[int] | None = None,
    **values: Any,
) -> RecommendationRule:
    """Create one rule from ``kind, product|category, target, position, channel, stores, starts_on, ends_on``
    (products by SKU or object, the category by name, stores by code). Pins go to ``position`` (1-based;
    default: last) and the other pins of the scope move down."""
    resolved = _resolve(merchant, values)
    _check_store_access(allowed_store_ids, (store.pk for store in resolved.stores))
    # Serialise writers of one merchant's rules: the duplicate and limit checks read-then-write.
    list(Merchant.objects.select_for_update().filter(pk=merchant.pk).values_list("pk", flat=True))
    scope_rules = _check_scope(merchant, resolved)
    rule = _rule_new(merchant, resolved, actor)
    if resolved.kind == RuleKind.PIN:
        _place_pin(merchant, rule, resolved.position, scope_rules)
    rule.save()
    _set_stores(rule, resolved.stores)
    audit(
        action=AuditAction.RECOMMENDATION_RULE_CREATED,
        merchant=merchant,
        actor=actor,
        request=request,
        target=rule_target_label(rule),
        data=_audit_data(rule, [store.code for store in resolved.stores]),
    )
    _invalidate(merchant)
    return rule


def _current_values(rule: RecommendationRule) -> dict[str, Any]:
    return {
        "kind": rule.kind,
        "product": rule.product,
        "category": rule.category,
        "target": rule.target,
        "position": rule.position,
        "channel": rule.channel,
        "stores": list(rule.stores.all()),
        "starts_on": rule.starts_on,
        "ends_on": rule.ends_on,
    }


@transaction.atomic
def rule_update(
    *,
    merchant: Merchant,
    rule: RecommendationRule,
    actor: Any,
    request: HttpRequest | None = None,
    allowed_store_ids: frozenset[int] | None = None,
    **changes: Any,
) -> RecommendationRule:
    """Change the fields given (the others keep their values), with the same checks as :func:`rule_create`.
    Changing a pin's ``position`` moves it within its scope."""
    if rule.merchant_id != merchant.pk:
        raise PermissionDenied("This rule belongs to another merchant.")
    list(Merchant.objects.select_for_update().filter(pk=merchant.pk).values_list("pk", flat=True))
    rule = RecommendationRule.objects.select_related("product", "category", "target").get(pk=rule.pk)
    before = _current_values(rule)
    _check_store_access(allowed_store_ids, (store.pk for store in before["stores"]))
    if changes.get("kind", rule.kind) != RuleKind.BLOCK and (
        "product" in changes or "category" in changes
    ):  # naming one subject replaces the other
        before["product" if "category" in changes else "category"] = None
    values = {**before, **changes}
    if "position" not in changes:
        values["position"] = None  # decided below: a pin keeps its place unless it moves to another scope
    resolved = _resolve(merchant, values)
    _check_store_access(allowed_store_ids, (store.pk for store in resolved.stores))
    scope_rules = _check_scope(merchant, resolved, exclude_pk=rule.pk)
    old_scope = rule_scope(rule, (store.pk for store in before["stores"]))
    rule.kind, rule.product, rule.category, rule.target = (
        resolved.kind,
        resolved.product,
        resolved.category,
        resolved.target,
    )
    rule.channel, rule.starts_on, rule.ends_on = resolved.channel, resolved.starts_on, resolved.ends_on
    if resolved.kind == RuleKind.PIN:
        position = resolved.position
        if "position" not in changes and before["kind"] == RuleKind.PIN and resolved.scope == old_scope:
            position = before["position"]
        _place_pin(merchant, rule, position, scope_rules)
    else:
        rule.position = 0
    rule.save()
    _set_stores(rule, resolved.stores)
    if old_scope != resolved.scope or before["kind"] != resolved.kind:
        _renumber_pins(merchant, old_scope)
    audit(
        action=AuditAction.RECOMMENDATION_RULE_UPDATED,
        merchant=merchant,
        actor=actor,
        request=request,
        target=rule_target_label(rule),
        data={"changed": sorted(changes), **_audit_data(rule, [store.code for store in resolved.stores])},
    )
    _invalidate(merchant)
    return rule


def _renumber_pins(merchant: Merchant, scope: RuleScope) -> None:
    pins = sorted(
        (rule for rule in _rules_in_scope(merchant, scope) if rule.kind == RuleKind.PIN),
        key=lambda rule: (rule.position or 0, rule.pk),
    )
    changed = []
    for number, pin in enumerate(pins, start=1):
        if pin.position != number:
            pin.position = number
            changed.append(pin)
    if changed:
        RecommendationRule.objects.bulk_update(changed, ["position"])


@transaction.atomic
def rule_delete(
    *,
    merchant: Merchant,
    rule: RecommendationRule,
    actor: Any,
    request: HttpRequest | None = None,
    allowed_store_ids: frozenset[int] | None = None,
) -> None:
    """Delete a rule; the pins after it in its scope move up one place."""
    if rule.merchant_id != merchant.pk:
        raise PermissionDenied("This rule belongs to another merchant.")
    list(Merchant.objects.select_for_update().filter(pk=merchant.pk).values_list("pk", flat=True))
    rule = RecommendationRule.objects.select_related("product", "category", "target").get(pk=rule.pk)
    store_codes = []
    store_ids = []
    for store in rule.stores.all():
        store_codes.append(store.code)
        store_ids.append(store.pk)
    _check_store_access(allowed_store_ids, store_ids)
    scope = rule_scope(rule, store_ids)
    label, data = rule_target_label(rule), _audit_data(rule, store_codes)
    rule.delete()
    if data["kind"] == RuleKind.PIN:
        _renumber_pins(merchant, scope)
    audit(
        action=AuditAction.RECOMMENDATION_RULE_DELETED,
        merchant=merchant,
        actor=actor,
        request=request,
        target=label,
        data=data,
    )
    _invalidate(merchant)


@transaction.atomic
def rules_reorder(
    *,
    merchant: Merchant,
    rule_ids: Sequence[int],
    actor: Any,
    request: HttpRequest | None = None,
    allowed_store_ids: frozenset[int] | None = None,
) -> list[RecommendationRule]:
    """Give the pins of one scope the order of ``rule_ids`` (all the pins of that scope, each once)."""
    list(Merchant.objects.select_for_update().filter(pk=merchant.pk).values_list("pk", flat=True))
    rules = list(
        RecommendationRule.objects.for_merchant(merchant)
        .filter(pk__in=list(rule_ids), kind=RuleKind.PIN)
        .select_related("product", "category", "target")
        .prefetch_related("stores")
    )
    if not rules or len(rules) != len(rule_ids) or len(set(rule_ids)) != len(rule_ids):
        raise ValidationError({"order": "Unknown pins: reload the page and try again."})
    scopes = {rule_scope(rule) for rule in rules}
    if len(scopes) != 1:
        raise ValidationError({"order": "The pins to reorder belong to different scopes."})
    (scope,) = scopes
    _check_store_access(allowed_store_ids, scope.store_ids)
    in_scope = {rule.pk for rule in _rules_in_scope(merchant, scope) if rule.kind == RuleKind.PIN}
    if in_scope != set(rule_ids):
        raise ValidationError({"order": "The list of pins changed meanwhile: reload the page and try again."})
    by_pk = {rule.pk: rule for rule in rules}
    ordered = [by_pk[pk] for pk in rule_ids]
    changed = []
    for number, rule in enumerate(ordered, start=1):
        if rule.position != number:
            rule.position = number
            changed.append(rule)
    if changed:
        RecommendationRule.objects.bulk_update(changed, ["position"])
        first = ordered[0]
        audit(
            action=AuditAction.RECOMMENDATION_RULE_UPDATED,
            merchant=merchant,
            actor=actor,
            request=request,
            target=f"pins on {first.product.sku if first.product_id else first.category.name}",
            data={"reordered": [rule.target.sku for rule in ordered]},
        )
        _invalidate(merchant)
    return ordered


# --- CSV import and export -------------------------------------------------------------------


def _parse_kind(text: str) -> str:
    value = text.strip().lower()
    if value not in RuleKind.values:
        raise ValidationError(f"Unknown kind; use one of: {', '.join(RuleKind.values)}.")
    return value


def _parse_channel(text: str) -> str:
    value = text.strip().lower()
    if value not in RuleChannel.values:
        raise ValidationError(f"Unknown channel; use one of: {', '.join(RuleChannel.values)}.")
    return value


def _parse_position(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValidationError("Not a whole number.") from None
    if value < 1:
        raise ValidationError("The position starts at 1.")
    return value


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError("Not a date: write it as YYYY-MM-DD.") from None


def _parse_store_codes(text: str) -> list[str]:
    return [normalize_store_code(code) for code in STORE_CODES_SEPARATOR.split(text) if code]


def _clean_row(values: dict[str, Any]) -> dict[str, Any]:
    starts_on, ends_on = values.get("starts_on"), values.get("ends_on")
    if starts_on and ends_on and ends_on < starts_on:
        raise ValidationError({"ends_on": f"The window ends ({ends_on}) before it starts ({starts_on})."})
    return values


RULE_CSV_SPEC = CsvSpec(
    name="recommendation-rules",
    max_rows=20_000,
    clean_row=_clean_row,
    columns=(
        Column(
            "kind", required=True, blank=False, parse=_parse_kind, description="pin, exclude or block.", example="pin"
        ),
        Column("product", description="SKU of the product the rule is for (pin, exclude).", example="TEE-001"),
        Column("category", description="…or the category name, for every product of it.", example=""),
        Column("target", required=True, blank=False, description="SKU shown, hidden or blocked.", example="MUG-01"),
        Column("position", parse=_parse_position, empty=None, description="Pins: place from 1.", example="1"),
        Column("channel", parse=_parse_channel, empty="all", description="all, online or offline.", example="all"),
        Column("stores", parse=_parse_store_codes, empty=[], description="Store codes, space separated.", example=""),
        Column("starts_on", parse=_parse_date, empty=None, description="First day, YYYY-MM-DD.", example=""),
        Column("ends_on", parse=_parse_date, empty=None, description="Last day, YYYY-MM-DD.", example=""),
    ),
)
EXPORT_COLUMNS = [column.name for column in RULE_CSV_SPEC.columns]


@dataclass
class _ImportPlan:
    rows: list[tuple[int, _RuleValues, RecommendationRule | None]] = field(default_factory=list)
    # every stored rule of the scopes the file touches, by scope (pins get renumbered in memory, then saved)
    by_scope: dict[RuleScope, list[RecommendationRule]] = field(default_factory=dict)


def _row_values(values: dict[str, Any]) -> dict[str, Any]:
    return {name: values.get(name) for name in EXPORT_COLUMNS if name in values}


def _chunks(values: list, size: int = LOOKUP_CHUNK):
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _bulk_lookups(merchant: Merchant, rows: list[ParsedRow]) -> _Lookups:
    """Every SKU, category and store code the file names, in a few queries."""
    skus: set[str] = set()
    categories: set[str] = set()
    codes: set[str] = set()
    for row in rows:
        for name in ("product", "target"):
            if row.values.get(name):
                skus.add(str(row.values[name]).strip())
        if row.values.get("category"):
            categories.add(str(row.values["category"]).strip().lower())
        codes.update(row.values.get("stores") or [])
    products: dict[str, Product] = {}
    for chunk in _chunks(sorted(skus)):
        products.update((p.sku, p) for p in Product.objects.for_merchant(merchant).filter(sku__in=chunk))
    found_categories: dict[str, Category] = {}
    if categories:
        for category in (
            Category.objects.for_merchant(merchant)
            .annotate(lower_name=Lower("name"))
            .filter(lower_name__in=sorted(categories))
        ):
            found_categories.setdefault(category.name.lower(), category)
    stores = {store.code: store for store in Store.objects.for_merchant(merchant).filter(code__in=sorted(codes))}
    return _Lookups(products=products, categories=found_categories, stores=stores)


def _stored_rules_by_scope(
    merchant: Merchant, product_ids: set[int], category_ids: set[int]
) -> dict[RuleScope, list[RecommendationRule]]:
    """The stored rules of these products and categories, and every block, by scope (two queries)."""
    subject = Q(kind=RuleKind.BLOCK)
    if product_ids:
        subject |= Q(product_id__in=sorted(product_ids))
    if category_ids:
        subject |= Q(category_id__in=sorted(category_ids))
    by_scope: dict[RuleScope, list[RecommendationRule]] = defaultdict(list)
    for rule in RecommendationRule.objects.for_merchant(merchant).filter(subject).prefetch_related("stores"):
        by_scope[rule_scope(rule)].append(rule)
    return by_scope


def _plan_import(merchant: Merchant, rows: list[ParsedRow], allowed_store_ids) -> tuple[_ImportPlan, list[RowError]]:
    """Resolve and check every row against the database and the rows above it, set-based (a few queries for the
    whole file). A row matching a stored rule (same kind, scope and target) is an update, never a duplicate."""
    lookups = _bulk_lookups(merchant, rows)
    plan = _ImportPlan()
    errors: list[RowError] = []
    resolved_rows: list[tuple[ParsedRow, _RuleValues | ValidationError]] = []
    for row in rows:
        try:
            resolved = _resolve(merchant, _row_values(row.values), lookups)
            if allowed_store_ids is not None:
                try:
                    _check_store_access(allowed_store_ids, (store.pk for store in resolved.stores))
                except PermissionDenied as exc:
                    raise ValidationError({"stores": str(exc)}) from None
        except ValidationError as exc:
            resolved_rows.append((row, exc))
            continue
        resolved_rows.append((row, resolved))
    valid = [values for _, values in resolved_rows if isinstance(values, _RuleValues)]
    plan.by_scope = _stored_rules_by_scope(
        merchant,
        {values.product.pk for values in valid if values.product},
        {values.category.pk for values in valid if values.category},
    )
    pending_by_scope: dict[RuleScope, list[_RuleValues]] = defaultdict(list)
    for row, resolved in resolved_rows:
        try:
            if isinstance(resolved, ValidationError):
                raise resolved
            existing = plan.by_scope.get(resolved.scope, [])
            pending = pending_by_scope[resolved.scope]
            match = next(
                (rule for rule in existing if rule.kind == resolved.kind and rule.target_id == resolved.target.pk),
                None,
            )
            if match is None:
                _check_scope(merchant, resolved, pending=pending, existing=existing)
            elif any(other.target.pk == resolved.target.pk for other in pending):
                raise ValidationError({"target": f"{resolved.target.sku} appears twice in this scope."})
        except ValidationError as exc:
            for column, messages in exc.message_dict.items():
                column = "" if column == "__all__" else column
                shown = row.values.get(column, "")
                if isinstance(shown, list):
                    shown = " ".join(shown)
                for message in messages:
                    errors.append(RowError(row.number, column, "" if shown is None else str(shown), message))
            continue
        pending.append(resolved)
        plan.rows.append((row.number, resolved, match))
    return plan, errors


def _write_import(merchant: Merchant, plan: _ImportPlan, valid_rows: set[int], actor: Any) -> WriteCounts:
    """Apply the planned rows in file order, in memory first (positions), then in a few bulk statements."""
    created: list[tuple[RecommendationRule, list[Store]]] = []
    changed: dict[int, RecommendationRule] = {}
    unchanged = 0
    for number, resolved, match in plan.rows:
        if number not in valid_rows:
            continue
        scope_rules = plan.by_scope.setdefault(resolved.scope, [])
        if match is None:
            rule = _rule_new(merchant, resolved, actor)
            if resolved.kind == RuleKind.PIN:
                changed.update((pin.pk, pin) for pin in _order_pins(rule, resolved.position, scope_rules))
            scope_rules.append(rule)
            created.append((rule, resolved.stores))
            continue
        wanted_position = resolved.position if resolved.kind == RuleKind.PIN else None
        if wanted_position is not None:
            # A place past the end means "last", as on creation: compare with where it would land.
            wanted_position = min(wanted_position, sum(rule.kind == RuleKind.PIN for rule in scope_rules))
        if (match.starts_on, match.ends_on) == (resolved.starts_on, resolved.ends_on) and (
            wanted_position is None or wanted_position == match.position
        ):
            unchanged += 1
            continue
        match.starts_on, match.ends_on = resolved.starts_on, resolved.ends_on
        if wanted_position is not None:
            changed.update((pin.pk, pin) for pin in _order_pins(match, wanted_position, scope_rules))
        changed[match.pk] = match
    new_rules = RecommendationRule.objects.bulk_create([rule for rule, _ in created], batch_size=1_000)
    RecommendationRuleStore.objects.bulk_create(
        (
            RecommendationRuleStore(merchant_id=merchant.pk, rule_id=rule.pk, store_id=store.pk)
            for rule, (_, stores) in zip(new_rules, created, strict=True)
            for store in stores
        ),
        batch_size=5_000,
    )
    updated = [rule for rule in changed.values() if rule.pk is not None]
    if updated:
        RecommendationRule.objects.bulk_update(updated, ["position", "starts_on", "ends_on"], batch_size=1_000)
    # Rows that only moved other pins are not counted as updated: ``changed`` holds those too.
    rows_updated = sum(1 for number, _, match in plan.rows if number in valid_rows and match is not None) - unchanged
    return WriteCounts(created=len(created), updated=rows_updated, unchanged=unchanged)


@transaction.atomic
def rules_import_csv(
    *,
    merchant: Merchant,
    file: Any,
    actor: Any,
    request: HttpRequest | None = None,
    mode: str = ImportMode.ALL_OR_NOTHING,
    allowed_store_ids: frozenset[int] | None = None,
) -> ImportResult:
    """Import rules from CSV (columns :data:`RULE_CSV_SPEC`): every row is validated like :func:`rule_create`
    (and against the rows above it) before anything is written; all or nothing by default. A row matching a
    stored rule (same kind, scope and target) updates its position and window instead of adding a rule.
    Set-based: a few queries whatever the size of the file."""
    list(Merchant.objects.select_for_update().filter(pk=merchant.pk).values_list("pk", flat=True))
    planned: dict[str, _ImportPlan] = {}

    def check(rows: list[ParsedRow]) -> list[RowError]:
        plan, errors = _plan_import(merchant, rows, allowed_store_ids)
        planned["plan"] = plan
        return errors

    def write(rows: list[ParsedRow]) -> WriteCounts:
        return _write_import(merchant, planned["plan"], {row.number for row in rows}, actor)

    result = run_import(file=file, spec=RULE_CSV_SPEC, mode=mode, write=write, check=check)
    audit_import(
        result,
        action=AuditAction.RECOMMENDATION_RULES_IMPORTED,
        merchant=merchant,
        actor=actor,
        request=request,
        data={"source": "csv"},
    )
    if result.applied and (result.created or result.updated):
        _invalidate(merchant)
    return result


def rules_export_csv(rules: Iterable[RecommendationRule]) -> str:
    """The rules as a CSV file in the import format (re-importing it changes nothing). Pass rules with
    ``product``, ``category``, ``target`` selected and ``stores`` prefetched. Cells are formula-safe."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for rule in rules:
        writer.writerow(
            [
                csv_safe(value)
                for value in (
                    rule.kind,
                    rule.product.sku if rule.product_id else "",
                    rule.category.name if rule.category_id else "",
                    rule.target.sku,
                    rule.position if rule.kind == RuleKind.PIN else "",
                    rule.channel,
                    " ".join(sorted(store.code for store in rule.stores.all())),
                    rule.starts_on.isoformat() if rule.starts_on else "",
                    rule.ends_on.isoformat() if rule.ends_on else "",
                )
            ]
        )
    return buffer.getvalue()
