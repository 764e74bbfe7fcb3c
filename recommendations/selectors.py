"""Reads of recommendations: the resolver behind the editor's preview, the page and the API, and the editor's reads.

Contract (used by ``recommendations/api.py``, ``views.py``; stable):

``recommend(*, merchant, product, store=None, channel=None, customer=None, limit=10, exclude_bought=True)
-> Recommendation``
    ``store`` a ``stores.Store`` (or None), ``channel`` "online" | "offline" | None (a store without a channel
    means in store), ``customer`` a ``sales.Customer`` (or None: merged customers are followed to the survivor),
    ``limit`` 1..50. Cached in the Django cache (Redis) under a per-merchant version that every rule change and
    every new computation bumps (``recommendations.services.recommendations_cache_invalidate``), and per local
    day (campaign windows). Raises nothing for a product without data: the fill (trending, bestsellers) answers.

``recommend_for_customer(*, merchant, customer, store=None, channel=None, limit=10, exclude_bought=True, at=None)
-> Recommendation`` (``product_id`` and ``sku`` None)
    What the customer may buy next: ``next_purchase.next_purchase_list`` (the ranking the bought-later evaluation
    measures) from their last order and their other orders of the 30 days before ``at`` (a last order older than
    that: the fill only, with a note), minus blocks, unsellable
    products and (``exclude_bought``) what they bought; filled with trending, then bestsellers. ``customer`` None
    (unknown): the fill, with a note. Cached like ``recommend``.

Order of the answer (documented in README "Recommendations"):
    1. pins of the most specific scope that has active pins today (merchant's time zone), by position:
       store > channel > all; within one scope, product rules are more specific than category rules
       (product pins, when present, replace the category's pins in that scope);
    2. learnt suggestions (bought together and, with a customer or not, bought later) by score, from the most
       specific learnt list available (store > channel > all), then the wider lists to fill;
    3. trending, then bestsellers, of the store / channel / everything, to fill ``limit``.
    Removed everywhere: the product itself, exclusions (any applicable scope, product or category rules) and
    blocks (always win, pins included), inactive, placeholder and zero- or no-price products, and (with a
    customer and ``exclude_bought``) what the customer already bought.

``RecommendationItem.reason`` is ``{"kind": "pinned" | "bought_together" | "bought_later" | "trending" |
"bestseller", ...evidence}``; for bought together the evidence is ``shared_baskets``, ``confidence`` (0..1),
``lift``, ``baskets_offline``, ``baskets_online``; for bought later ``customers`` (distinct customers who bought
the product, then the partner in one of their next orders within 90 days), ``confidence``, ``lift``.
``RecommendationItem.scope`` is "all" | "online" | "offline" | "store:<CODE>" (where the item's list came from).

Other reads: ``recommendation_state_get(*, merchant) -> RecommendationStatus`` (current job, computed_at, the
latest job for the progress bar), ``product_suggestions(*, merchant, product, scope="all", store=None,
kind=None, limit=50) -> list[SuggestionRow]`` (the learnt list with evidence for the editor),
``recommendation_job_get(*, merchant, job_id)``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone

from catalog.models import Product
from merchants.models import Merchant
from sales.models import Customer, Order, OrderLine, OrderStatus
from stores.models import Store

from .compute import ComputeParams
from .models import (
    JobStatus,
    RecommendationJob,
    RecommendationRule,
    RecommendationState,
    RuleChannel,
    RuleKind,
    Suggestion,
    SuggestionKind,
    SuggestionScope,
)
from .next_purchase import HISTORY_DAYS, LAST_ORDER_PARTNERS, next_purchase_list

MAX_LIMIT = 50
CACHE_TIMEOUT = 6 * 3600  # a safety net only: every change bumps the version, and the key carries the day


@dataclass(frozen=True)
class RecommendationItem:
    product_id: int
    sku: str
    name: str
    price: Decimal | None
    score: float | None  # pins have no score
    reason: dict[str, Any]
    scope: str  # "all" | "online" | "offline" | "store:<CODE>"


@dataclass(frozen=True)
class Recommendation:
    product_id: int | None  # None: a customer's next-purchase list (``recommend_for_customer``)
    sku: str | None
    computed_at: dt.datetime | None  # when the suggestions in use were computed (None: never)
    items: list[RecommendationItem]
    # Which learnt list the suggestions came from first ("store:PAR-01", "offline", "all"), or None if none;
    # ``fallback`` is True when a more specific list was asked for (store / channel) but had too little support.
    learnt_scope: str | None = None
    fallback: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SuggestionRow:
    partner_id: int
    sku: str
    name: str
    kind: str
    scope: str
    rank: int
    score: float
    support: int
    confidence: float
    lift: float
    baskets_offline: int
    baskets_online: int
    active: bool
    is_placeholder: bool


@dataclass(frozen=True)
class RecommendationStatus:
    current_job: RecommendationJob | None
    computed_at: dt.datetime | None
    latest_job: RecommendationJob | None  # the newest job, current or not (queued/running/failed)


# --- cache version ----------------------------------------------------------------------------


def _version_key(merchant_id: int) -> str:
    return f"reco:v:{merchant_id}"


def cache_version(merchant_id: int) -> int:
    """The merchant's current cache version (created on first use). Bumped by ``recommendations_cache_invalidate``."""
    key = _version_key(merchant_id)
    version = cache.get(key)
    if version is None:
        # A lost or evicted counter restarts from the clock: never reuses an older version's keys.
        cache.add(key, int(time.time() * 1000), timeout=None)
        version = cache.get(key)
    return int(version)


# --- the resolver -----------------------------------------------------------------------------


def _scopes_for(store: Store | None, channel: str | None) -> list[tuple[str, int | None]]:
    """Learnt-list scopes from the most to the least specific."""
    scopes: list[tuple[str, int | None]] = []
    if store is not None:
        scopes.append((SuggestionScope.STORE, store.pk))
    if channel:
        scopes.append((channel, None))
    scopes.append((SuggestionScope.ALL, None))
    return scopes


def _scope_label(scope: str, store_id: int | None, store_codes: dict[int, str]) -> str:
    if scope == SuggestionScope.STORE:
        return f"store:{store_codes.get(store_id, store_id)}"
    return scope


def _applicable_rules(
    *, merchant: Merchant, product: Product, store: Store | None, channel: str | None, today: dt.date
) -> list[dict]:
    """Active rules for this product (its own, its category's, and global blocks) with their scope level.

    One query: a rule with stores comes back once per store (left join), folded here.
    """
    subject = Q(product_id=product.pk) | Q(kind=RuleKind.BLOCK)
    if product.category_id:
        subject |= Q(category_id=product.category_id)
    rows = (
        RecommendationRule.objects.for_merchant(merchant)
        .filter(subject)
        .filter(Q(starts_on__isnull=True) | Q(starts_on__lte=today), Q(ends_on__isnull=True) | Q(ends_on__gte=today))
        .values(
            "id",
            "kind",
            "product_id",
            "category_id",
            "target_id",
            "position",
            "channel",
            "store_links__store_id",
        )
        .order_by("position", "id")
    )
    rules: dict[int, dict] = {}
    for row in rows:
        rule = rules.setdefault(row["id"], {**row, "stores": set()})
        if row["store_links__store_id"] is not None:
            rule["stores"].add(row["store_links__store_id"])
    applicable = []
    for rule in rules.values():
        if rule["stores"]:
            if store is None or store.pk not in rule["stores"]:
                continue
            level = 0  # store
        elif rule["channel"] == RuleChannel.ALL:
            level = 2
        elif channel is not None and rule["channel"] == channel:
            level = 1
        else:
            continue
        # Product rules are more specific than category rules within the same scope level.
        rule["specificity"] = level * 2 + (0 if rule["product_id"] else 1)
        applicable.append(rule)
    return applicable


def _cached(prefix: str, merchant_id: int, parts: tuple, compute) -> Recommendation:
    """``compute()``, kept under ``reco:<prefix>:<merchant>:<cache version>:<digest of parts>`` (a new computation
    or a rule change bumps the version: nothing to find and delete)."""
    raw = ":".join(str(part) for part in parts)
    digest = hashlib.blake2s(raw.encode(), digest_size=12).hexdigest()
    key = f"reco:{prefix}:{merchant_id}:{cache_version(merchant_id)}:{digest}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    result = compute()
    cache.set(key, result, timeout=CACHE_TIMEOUT)
    return result


SUGGESTION_COLUMNS = ("product_id", "kind", "scope", "store_id", "partner_id", "rank", "score", "support",
                      "confidence", "lift", "baskets_offline", "baskets_online")  # fmt: skip
FILL_CACHE_MAX = 1024  # (job, scope, store) lists kept per process (~70 KB each); all dropped when full
_fill_cache: dict[tuple[int, int, str, int | None], list[dict]] = {}


def _fill_rows(merchant: Merchant, job_id: int, scope: str, store_id: int | None) -> list[dict]:
    """The trending then bestseller rows of one list of a computation, by rank. A computation's rows never change
    once it is current (a new one gets a new job), so they are kept in the process by job: no invalidation needed.
    The rows are shared: read them, never change them."""
    key = (merchant.pk, job_id, scope, store_id)
    rows = _fill_cache.get(key)
    if rows is None:
        rows = list(
            Suggestion.objects.for_merchant(merchant)
            .filter(
                job_id=job_id,
                product_id__isnull=True,
                kind__in=(SuggestionKind.TRENDING, SuggestionKind.BESTSELLER),
                scope=scope,
                store_id=store_id,
            )
            .values(*SUGGESTION_COLUMNS)
        )
        rows.sort(key=lambda row: (row["kind"] != SuggestionKind.TRENDING, row["rank"]))
        if len(_fill_cache) >= FILL_CACHE_MAX:
            _fill_cache.clear()
        else:  # the merchant's replaced computations are never asked again
            for stale in [k for k in _fill_cache if k[0] == merchant.pk and k[1] != job_id]:
                del _fill_cache[stale]
        _fill_cache[key] = rows
    return rows


def _question(
    caller: str, merchant: Merchant, store, channel, customer, limit
) -> tuple[str | None, int, dt.date, int | None]:
    """The checks and defaults both resolvers share: (channel, limit, the merchant's today, the customer's id with
    merges followed)."""
    if store is not None and store.merchant_id != merchant.pk:
        raise ValueError(f"{caller}(): the store belongs to another merchant.")
    if customer is not None and customer.merchant_id != merchant.pk:
        raise ValueError(f"{caller}(): the customer belongs to another merchant.")
    if channel not in (None, "online", "offline"):
        raise ValueError(f"{caller}(): channel must be 'online', 'offline' or None, not {channel!r}.")
    if store is not None and channel is None:
        channel = "offline"
    today = timezone.now().astimezone(merchant.tzinfo).date()
    customer_id = (customer.merged_into_id or customer.pk) if customer is not None else None
    return channel, max(1, min(MAX_LIMIT, int(limit))), today, customer_id


def recommend(
    *,
    merchant: Merchant,
    product: Product,
    store: Store | None = None,
    channel: str | None = None,
    customer: Customer | None = None,
    limit: int = 10,
    exclude_bought: bool = True,
    use_cache: bool = True,
) -> Recommendation:
    """What to show next to ``product`` (see the module docstring for the order and the filters)."""
    if product.merchant_id != merchant.pk:
        raise ValueError("recommend(): the product belongs to another merchant.")
    channel, limit, today, customer_id = _question("recommend", merchant, store, channel, customer, limit)

    def compute() -> Recommendation:
        return _resolve(
            merchant=merchant,
            product=product,
            store=store,
            channel=channel,
            customer_id=customer_id,
            limit=limit,
            exclude_bought=exclude_bought,
            today=today,
        )

    if not use_cache:
        return compute()
    store_id = store.pk if store else None
    parts = (product.pk, store_id, channel, customer_id, limit, int(bool(exclude_bought)), today.isoformat())
    return _cached("r", merchant.pk, parts, compute)


def _resolve(
    *,
    merchant: Merchant,
    product: Product,
    store: Store | None,
    channel: str | None,
    customer_id: int | None,
    limit: int,
    exclude_bought: bool,
    today: dt.date,
) -> Recommendation:
    state = RecommendationState.objects.for_merchant(merchant).values("current_job_id", "computed_at").first() or {
        "current_job_id": None,
        "computed_at": None,
    }
    rules = _applicable_rules(merchant=merchant, product=product, store=store, channel=channel, today=today)
    excluded = {r["target_id"] for r in rules if r["kind"] in (RuleKind.EXCLUDE, RuleKind.BLOCK)}
    pins = [r for r in rules if r["kind"] == RuleKind.PIN]
    pin_level = min((r["specificity"] for r in pins), default=None)
    pins = [r for r in pins if r["specificity"] == pin_level]
    pins.sort(key=lambda r: (r["position"], r["id"]))
    excluded.add(product.pk)
    if customer_id is not None and exclude_bought:
        excluded |= set(
            OrderLine.objects.for_merchant(merchant)
            .filter(order__customer_id=customer_id, kind="sale", product_id__isnull=False)
            .values_list("product_id", flat=True)
            .distinct()
        )

    scopes = _scopes_for(store, channel)
    wanted_product_ids = {r["target_id"] for r in pins}
    suggestion_rows: list[dict] = []
    if state["current_job_id"] is not None:
        # UNION ALL of one branch per scope of the product's rows: each branch is a prefix of the index (merchant,
        # job, product, kind, scope, store). An OR would let PostgreSQL factor the shared conditions out and scan
        # every row of the job (~240,000 at 20k products). The fill lists (trending, bestsellers) are the same for
        # every product: read once per process and job (``_fill_rows``).
        base = Suggestion.objects.for_merchant(merchant).filter(job_id=state["current_job_id"])
        branches = [
            base.filter(product_id=product.pk, scope=scope, store_id=store_id).values(*SUGGESTION_COLUMNS)
            for scope, store_id in scopes
        ]
        product_rows = branches[0].union(*branches[1:], all=True) if len(branches) > 1 else branches[0]
        suggestion_rows = list(product_rows.order_by("rank"))
        for scope, store_id in scopes:
            suggestion_rows += _fill_rows(merchant, state["current_job_id"], scope, store_id)
        wanted_product_ids |= {row["partner_id"] for row in suggestion_rows}
    products = {
        row["id"]: row
        for row in Product.objects.for_merchant(merchant)
        .filter(pk__in=wanted_product_ids, active=True, is_placeholder=False, price__gt=0)
        .values("id", "sku", "name", "price")
    }
    store_codes = {store.pk: store.code} if store is not None else {}

    items: list[RecommendationItem] = []
    seen: set[int] = set()

    def add(product_id: int, score: float | None, reason: dict, scope: str) -> None:
        if len(items) >= limit or product_id in seen or product_id in excluded or product_id not in products:
            return
        info = products[product_id]
        seen.add(product_id)
        items.append(
            RecommendationItem(
                product_id=product_id,
                sku=info["sku"],
                name=info["name"],
                price=info["price"],
                score=score,
                reason=reason,
                scope=scope,
            )
        )

    for rule in pins:
        scope = _rule_scope_label(rule, store)
        source = "product" if rule["product_id"] else "category"
        add(rule["target_id"], None, {"kind": "pinned", "rule": rule["id"], "rule_for": source}, scope)

    # Learnt: the most specific scope's list first, then the wider ones; within a list, by score.
    learnt_by_scope: dict[tuple[str, int | None], list[dict]] = {}
    fill_by_scope: dict[tuple[str, int | None], dict[str, list[dict]]] = {}
    for row in suggestion_rows:
        key = (row["scope"], row["store_id"])
        if row["product_id"] is None:
            fill_by_scope.setdefault(key, {}).setdefault(row["kind"], []).append(row)
        else:
            learnt_by_scope.setdefault(key, []).append(row)
    learnt_scope = None
    for scope_key in scopes:
        rows = learnt_by_scope.get(scope_key)
        if not rows:
            continue
        if learnt_scope is None:
            learnt_scope = _scope_label(*scope_key, store_codes)
        for row in sorted(rows, key=lambda r: (-r["score"], r["kind"], r["rank"])):
            add(row["partner_id"], round(row["score"], 6), _evidence(row), _scope_label(*scope_key, store_codes))
    fallback = learnt_scope is not None and learnt_scope != _scope_label(*scopes[0], store_codes)
    notes = []
    if fallback:
        asked = _scope_label(*scopes[0], store_codes)
        notes.append(f"Not enough baskets in scope {asked} for its own list: suggestions come from {learnt_scope}.")
    if state["current_job_id"] is None:
        notes.append("Suggestions have not been computed yet.")

    for kind in (SuggestionKind.TRENDING, SuggestionKind.BESTSELLER):
        for scope_key in scopes:
            for row in fill_by_scope.get(scope_key, {}).get(kind, []):
                add(row["partner_id"], round(row["score"], 6), {"kind": kind}, _scope_label(*scope_key, store_codes))

    return Recommendation(
        product_id=product.pk,
        sku=product.sku,
        computed_at=state["computed_at"],
        items=items,
        learnt_scope=learnt_scope,
        fallback=fallback,
        notes=notes,
    )


def recommend_for_customer(
    *,
    merchant: Merchant,
    customer: Customer | None,
    store: Store | None = None,
    channel: str | None = None,
    limit: int = 10,
    exclude_bought: bool = True,
    at: dt.datetime | None = None,
    use_cache: bool = True,
) -> Recommendation:
    """What the customer may buy next (see the module docstring): the list of ``next_purchase.next_purchase_list``
    — the very ranking the bought-later evaluation measures — from the customer's (merged customers followed)
    last order before ``at`` (default now) and their other orders of the ``HISTORY_DAYS`` (30) before ``at`` (a
    last order older than that: no bought-later items, a note), minus global blocks, inactive, placeholder and
    unpriced products and (with ``exclude_bought``) what the customer already bought; filled with trending, then
    bestsellers, of the store / channel / everything. ``customer`` None (unknown): the fill only, and a note says
    so. Pins and exclusions are per product: they do not apply. Cached like ``recommend`` (same version; per local
    day) unless ``at`` is given."""
    channel, limit, today, customer_id = _question("recommend_for_customer", merchant, store, channel, customer, limit)

    def compute() -> Recommendation:
        return _resolve_for_customer(
            merchant=merchant,
            customer_id=customer_id,
            store=store,
            channel=channel,
            limit=limit,
            exclude_bought=exclude_bought,
            at=at or timezone.now(),
            today=today,
        )

    if not use_cache or at is not None:
        return compute()
    parts = (store.pk if store else None, channel, customer_id, limit, int(bool(exclude_bought)), today)
    return _cached("c", merchant.pk, parts, compute)


def _customer_history(
    merchant: Merchant, customer_id: int, at: dt.datetime
) -> tuple[list[int], float, list[list[int]], set[int]]:
    """(products of the last order before ``at``, days from it to ``at``, products of the other orders of the
    ``HISTORY_DAYS`` before ``at`` most recent first, every product the customer bought before ``at``). No history
    (and infinite days) when the last order is older than the bought-later horizon. Orders as the learning reads
    them: not cancelled, sale lines."""
    horizon = at - dt.timedelta(days=ComputeParams().later_days)
    since = at - dt.timedelta(days=HISTORY_DAYS)
    orders = list(
        Order.objects.for_merchant(merchant)
        .filter(customer_id=customer_id, placed_at__lt=at, placed_at__gte=min(horizon, since))
        .exclude(status=OrderStatus.CANCELLED)
        .order_by("-placed_at", "-pk")
        .values_list("pk", "placed_at")
    )
    if not orders:
        return [], math.inf, [], set()
    last_order_days = (at - orders[0][1]).total_seconds() / 86400
    recent = [orders[0][0]] + [pk for pk, placed_at in orders[1:] if placed_at >= since]
    products: dict[int, set[int]] = {}
    for order_id, product_id in (
        OrderLine.objects.for_merchant(merchant)
        .filter(order_id__in=recent, kind="sale", product_id__isnull=False)
        .values_list("order_id", "product_id")
    ):
        products.setdefault(order_id, set()).add(product_id)
    bought = set(
        OrderLine.objects.for_merchant(merchant)
        .filter(order__customer_id=customer_id, order__placed_at__lt=at, kind="sale", product_id__isnull=False)
        .values_list("product_id", flat=True)
        .distinct()
    )
    last = sorted(products.get(recent[0], ()))
    return last, last_order_days, [sorted(products.get(order_id, ())) for order_id in recent[1:]], bought


def _resolve_for_customer(
    *,
    merchant: Merchant,
    customer_id: int | None,
    store: Store | None,
    channel: str | None,
    limit: int,
    exclude_bought: bool,
    at: dt.datetime,
    today: dt.date,
) -> Recommendation:
    state = RecommendationState.objects.for_merchant(merchant).values("current_job_id", "computed_at").first() or {
        "current_job_id": None,
        "computed_at": None,
    }
    notes: list[str] = []
    last: list[int] = []
    last_order_days = math.inf
    recent: list[list[int]] = []
    excluded: set[int] = set(
        RecommendationRule.objects.for_merchant(merchant)
        .filter(kind=RuleKind.BLOCK)
        .filter(Q(starts_on__isnull=True) | Q(starts_on__lte=today), Q(ends_on__isnull=True) | Q(ends_on__gte=today))
        .values_list("target_id", flat=True)
    )
    if customer_id is None:
        notes.append("Unknown customer: trending and bestsellers only.")
    else:
        last, last_order_days, recent, bought = _customer_history(merchant, customer_id, at)
        if not last and not any(recent):
            notes.append("No order of this customer in the 90 days before: trending and bestsellers only.")
        elif last_order_days > HISTORY_DAYS:
            notes.append(f"No order of this customer in the {HISTORY_DAYS} days before: trending and bestsellers only.")
        if exclude_bought:
            excluded |= bought
    scopes = _scopes_for(store, channel)
    store_codes = {store.pk: store.code} if store is not None else {}
    later: dict[int, tuple[list[int], list[float]]] = {}
    evidence: dict[tuple[int, int], dict] = {}
    fills: list[tuple[str, list[int]]] = []
    fill_rows: list[tuple[str, dict[int, dict]]] = []
    if state["current_job_id"] is not None:
        customer_products = set(last).union(*recent)
        rows = (
            Suggestion.objects.for_merchant(merchant)
            .filter(
                job_id=state["current_job_id"],
                product_id__in=sorted(customer_products),
                kind=SuggestionKind.BOUGHT_LATER,
                scope=SuggestionScope.ALL,
                store_id=None,
                rank__lte=LAST_ORDER_PARTNERS,
            )
            .order_by("product_id", "rank")
            .values(*SUGGESTION_COLUMNS)
            if customer_products
            else []
        )
        for row in rows:
            partners, scores = later.setdefault(row["product_id"], ([], []))
            partners.append(row["partner_id"])
            scores.append(row["score"])
            evidence[(row["product_id"], row["partner_id"])] = row
        for kind in (SuggestionKind.TRENDING, SuggestionKind.BESTSELLER):
            for scope, store_id in scopes:
                listed = [
                    r for r in _fill_rows(merchant, state["current_job_id"], scope, store_id) if r["kind"] == kind
                ]
                fills.append((kind.value, [r["partner_id"] for r in listed]))
                fill_rows.append((_scope_label(scope, store_id, store_codes), {r["partner_id"]: r for r in listed}))
    else:
        notes.append("Suggestions have not been computed yet.")
    wanted = {partner for partners, _ in later.values() for partner in partners}
    wanted |= {partner for _, partners in fills for partner in partners}
    products = {
        row["id"]: row
        for row in Product.objects.for_merchant(merchant)
        .filter(pk__in=wanted, active=True, is_placeholder=False, price__gt=0)
        .values("id", "sku", "name", "price")
    }
    catalogue = {
        row["id"]: row["sku"]
        for row in Product.objects.for_merchant(merchant).filter(pk__in=set(last).union(*recent)).values("id", "sku")
    }
    picks = next_purchase_list(
        later=later,
        last_order=last,
        last_order_days=last_order_days,
        recent_orders=recent,
        fills=fills,
        skip=excluded | (wanted - products.keys()),
        limit=limit,
    )
    items = []
    for pick in picks:
        info = products[pick.product]
        if pick.fill is None:
            row = evidence[(pick.follows[0], pick.product)]
            reason = {**_evidence(row), "follows": [catalogue[product] for product in pick.follows]}
            scope = SuggestionScope.ALL.value
        else:
            scope, rows_by_partner = fill_rows[pick.fill]
            row = rows_by_partner[pick.product]
            reason = {"kind": pick.kind}
        items.append(
            RecommendationItem(
                product_id=pick.product,
                sku=info["sku"],
                name=info["name"],
                price=info["price"],
                score=round(row["score"], 6),
                reason=reason,
                scope=scope,
            )
        )
    return Recommendation(
        product_id=None,
        sku=None,
        computed_at=state["computed_at"],
        items=items,
        learnt_scope=SuggestionScope.ALL.value if any(pick.fill is None for pick in picks) else None,
        fallback=False,
        notes=notes,
    )


def _rule_scope_label(rule: dict, store: Store | None) -> str:
    if rule["stores"] and store is not None:
        return f"store:{store.code}"
    return rule["channel"]


def _evidence(row: dict) -> dict[str, Any]:
    if row["kind"] == SuggestionKind.BOUGHT_LATER:
        return {
            "kind": SuggestionKind.BOUGHT_LATER.value,
            "customers": row["support"],
            "confidence": round(row["confidence"], 4),
            "lift": round(row["lift"], 2),
        }
    return {
        "kind": SuggestionKind.BOUGHT_TOGETHER.value,
        "shared_baskets": row["support"],
        "confidence": round(row["confidence"], 4),
        "lift": round(row["lift"], 2),
        "baskets_offline": row["baskets_offline"],
        "baskets_online": row["baskets_online"],
    }


# --- editor reads -----------------------------------------------------------------------------


def recommendation_state_get(*, merchant: Merchant) -> RecommendationStatus:
    state = RecommendationState.objects.for_merchant(merchant).select_related("current_job").first()
    latest = RecommendationJob.objects.for_merchant(merchant).order_by("-created_at", "-pk").first()
    return RecommendationStatus(
        current_job=state.current_job if state else None,
        computed_at=state.computed_at if state else None,
        latest_job=latest,
    )


def recommendation_job_get(*, merchant: Merchant, job_id: int) -> RecommendationJob | None:
    return RecommendationJob.objects.for_merchant(merchant).filter(pk=job_id).first()


def recommendation_job_active(*, merchant: Merchant) -> RecommendationJob | None:
    """A queued or running job of this merchant, if any (what a recompute request reuses)."""
    return (
        RecommendationJob.objects.for_merchant(merchant)
        .filter(status__in=(JobStatus.QUEUED, JobStatus.RUNNING))
        .order_by("-created_at", "-pk")
        .first()
    )


def product_suggestions(
    *,
    merchant: Merchant,
    product: Product,
    scope: str = SuggestionScope.ALL,
    store: Store | None = None,
    kind: str | None = None,
    limit: int = 50,
) -> list[SuggestionRow]:
    """The learnt list of one product in one scope (current computation), with evidence, best first."""
    if product.merchant_id != merchant.pk:
        raise ValueError("product_suggestions(): the product belongs to another merchant.")
    job_id = RecommendationState.objects.for_merchant(merchant).values_list("current_job_id", flat=True).first()
    if job_id is None:
        return []
    queryset = Suggestion.objects.for_merchant(merchant).filter(
        job_id=job_id,
        product_id=product.pk,
        scope=scope,
        store_id=store.pk if store is not None and scope == SuggestionScope.STORE else None,
    )
    if kind:
        queryset = queryset.filter(kind=kind)
    rows = list(
        queryset.order_by("-score", "kind", "rank").values(
            "partner_id",
            "partner__sku",
            "partner__name",
            "partner__active",
            "partner__is_placeholder",
            "kind",
            "scope",
            "rank",
            "score",
            "support",
            "confidence",
            "lift",
            "baskets_offline",
            "baskets_online",
        )[:limit]
    )
    return [
        SuggestionRow(
            partner_id=row["partner_id"],
            sku=row["partner__sku"],
            name=row["partner__name"],
            kind=row["kind"],
            scope=row["scope"],
            rank=row["rank"],
            score=row["score"],
            support=row["support"],
            confidence=row["confidence"],
            lift=row["lift"],
            baskets_offline=row["baskets_offline"],
            baskets_online=row["baskets_online"],
            active=row["partner__active"],
            is_placeholder=row["partner__is_placeholder"],
        )
        for row in rows
    ]
