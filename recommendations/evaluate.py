"""Honest quality numbers for the learnt suggestions: a time split, the model beside a popularity baseline.

``recommendations_evaluate(*, merchant, split_date=None) -> EvaluationReport``:

- Data: the sale lines of the last ``window_days`` (365) days up to today (merchant's time zone), read once by
  COPY. The split date defaults to the day that leaves the last ~20% of baskets for the test; the model learns
  (``compute.learn``, the very code of the nightly job, same parameters) only on the days before it, over at most
  ``window_days`` days; the test is every day from it on. Never a random split.
- Bought together: every test basket with 2 to ``max_basket_items`` distinct products is one case: one item is
  held out at random (seeded), another of the basket is the product being looked at. The model's top 10 is what
  the resolver would answer without rules (the basket's store list, then its channel's, then everything's, filled
  with bestsellers of that scope); the baseline is the bestsellers of that same scope. Both leave out the other
  items already in the basket. Hit-rate@10 (held-out item in the 10) and MRR, overall and per channel.
- Bought later: each identified customer whose first order in the test period follows one of their orders
  within 90 days before it: the model's ten are the served "next purchase" list
  (``next_purchase.next_purchase_list``, what ``selectors.recommend_for_customer`` answers without a store or
  channel): if that earlier order is of the 30 days before the visit, the two best bought-later partners of every
  product of it (every product's first partner, then every product's second), then the best partner of every
  product of the customer's other orders of those 30 days (most recent first); then trending and bestsellers,
  leaving out what the customer bought before the visit (in the orders read); the baseline is the bestsellers;
  recall@10 of the next order's products.
- Coverage: share of the sellable catalogue (active, not placeholder) the model suggests at all.
Below ``MIN_CASES`` (200) test cases a metric is reported as "not enough data" (None), never as a number.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

import numpy as np
from django.utils import timezone

from catalog.models import Product
from merchants.models import Merchant

from . import compute
from .models import SuggestionKind, SuggestionScope
from .next_purchase import HISTORY_DAYS, next_purchase_list
from .services import read_baskets

MIN_CASES = 200
TOP_K = 10
TEST_SHARE = 0.2
MAX_CASES = 100_000  # seeded sample beyond this: the numbers are stable long before
SEED = 20260601


@dataclass(frozen=True)
class TogetherResult:
    channel: str  # "all" | "online" | "offline"
    cases: int
    hit_rate: float | None  # None: not enough data
    mrr: float | None
    popularity_hit_rate: float | None
    popularity_mrr: float | None

    @property
    def enough_data(self) -> bool:
        return self.hit_rate is not None

    @property
    def lift_over_popularity(self) -> float | None:
        if self.hit_rate is None or not self.popularity_hit_rate:
            return None
        return self.hit_rate / self.popularity_hit_rate


@dataclass(frozen=True)
class LaterResult:
    cases: int
    recall: float | None
    popularity_recall: float | None

    @property
    def enough_data(self) -> bool:
        return self.recall is not None

    @property
    def lift_over_popularity(self) -> float | None:
        if self.recall is None or not self.popularity_recall:
            return None
        return self.recall / self.popularity_recall


@dataclass(frozen=True)
class EvaluationReport:
    split_date: dt.date | None
    learn_start: dt.date | None
    learn_end: dt.date | None
    test_end: dt.date | None
    learn_baskets: int
    test_baskets: int
    together: list[TogetherResult]  # "all" first, then "online", "offline"
    later: LaterResult
    coverage: float | None  # share of the sellable catalogue suggested at all
    catalogue_size: int
    suggested_products: int
    min_cases: int = MIN_CASES
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def enough_data(self) -> bool:
        return self.together[0].enough_data

    def together_for(self, channel: str) -> TogetherResult:
        return next(result for result in self.together if result.channel == channel)


def _ranked_lists(table: compute.SuggestionTable, kind: str) -> dict[tuple[str, int | None], dict[int, np.ndarray]]:
    """{(scope, store): {product: partner ids by rank}} for bought together/later; {..: {0: ids}} for popular."""
    result: dict[tuple[str, int | None], dict[int, np.ndarray]] = {}
    for group in table.groups:
        if group.kind != kind:
            continue
        products = group.product if group.product is not None else np.zeros(len(group), dtype=np.int64)
        if isinstance(group.store_id, np.ndarray):
            stores = group.store_id
        else:
            stores = np.full(len(group), -1 if group.store_id is None else group.store_id, dtype=np.int64)
        order = np.lexsort((group.rank, products, stores))
        products, partners, stores = products[order], group.partner[order], stores[order]
        if len(products):
            starts = np.r_[0, np.flatnonzero((np.diff(products) != 0) | (np.diff(stores) != 0)) + 1]
            for start, stop in zip(starts, np.r_[starts[1:], len(products)], strict=True):
                store = int(stores[start])
                lists = result.setdefault((group.scope, None if store == -1 else store), {})
                lists[int(products[start])] = partners[start:stop]
    return result


def _partners(table: compute.SuggestionTable, kind: str) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """{product: (partner ids, scores), by rank} of the "all" list of ``kind``."""
    for group in table.groups:
        if group.kind == kind and group.scope == SuggestionScope.ALL:
            result = {}
            order = np.lexsort((group.rank, group.product))
            products, partners, scores = group.product[order], group.partner[order], group.score[order]
            if len(products):
                starts = np.r_[0, np.flatnonzero(np.diff(products)) + 1]
                for start, stop in zip(starts, np.r_[starts[1:], len(products)], strict=True):
                    result[int(products[start])] = (partners[start:stop], scores[start:stop])
            return result
    return {}


def _top(candidates, skip: set[int], k: int = TOP_K) -> list[int]:
    chosen: list[int] = []
    seen = set(skip)
    for source in candidates:
        for item in source:
            item = int(item)
            if item not in seen:
                seen.add(item)
                chosen.append(item)
                if len(chosen) == k:
                    return chosen
    return chosen


def default_split_date(lines: compute.Lines, start: dt.date) -> dt.date | None:
    """The day that leaves the last ~20% of baskets (orders) for the test."""
    if len(lines) == 0:
        return None
    order = np.argsort(lines.order, kind="stable")
    first = order[np.r_[True, lines.order[order][1:] != lines.order[order][:-1]]]
    days = np.sort(lines.day[first].astype(np.int64))
    split_day = int(days[min(len(days) - 1, int(len(days) * (1 - TEST_SHARE)))])
    return start + dt.timedelta(days=split_day)


def recommendations_evaluate(
    *,
    merchant: Merchant,
    split_date: dt.date | None = None,
    params: compute.ComputeParams | None = None,
    today: dt.date | None = None,
) -> EvaluationReport:
    began = time.perf_counter()
    params = params or compute.ComputeParams()
    end = today or timezone.now().astimezone(merchant.tzinfo).date()
    if split_date is not None and split_date > end:
        raise ValueError(f"The split date {split_date} is after today ({end}): nothing would be left to test.")
    earliest = end - dt.timedelta(days=params.window_days - 1)
    if split_date is not None:
        earliest = min(earliest, split_date - dt.timedelta(days=params.window_days))
    lines, customer_orders = read_baskets(merchant, earliest, end)
    if split_date is None:
        split_date = default_split_date(lines, earliest)
    catalogue = Product.objects.for_merchant(merchant).filter(active=True, is_placeholder=False).count()
    empty_together = [TogetherResult(c, 0, None, None, None, None) for c in ("all", "online", "offline")]
    if split_date is None:
        return EvaluationReport(
            split_date=None, learn_start=None, learn_end=None, test_end=end, learn_baskets=0, test_baskets=0,
            together=empty_together, later=LaterResult(0, None, None), coverage=None, catalogue_size=catalogue,
            suggested_products=0, seconds=round(time.perf_counter() - began, 3), notes=["No sales to evaluate on."],
        )  # fmt: skip
    split_day = (split_date - earliest).days
    learn_start_day = max(0, split_day - params.window_days)
    learn_mask = (lines.day < split_day) & (lines.day >= learn_start_day)
    learn_lines = lines.take(learn_mask)
    learn_lines.day = (learn_lines.day - learn_start_day).astype(np.int16)
    split_epoch = dt.datetime.combine(split_date, dt.time(), tzinfo=merchant.tzinfo).timestamp()
    learn_orders_mask = customer_orders.placed < split_epoch
    learn_orders = compute.CustomerOrders(
        customer_orders.order[learn_orders_mask],
        customer_orders.customer[learn_orders_mask],
        customer_orders.placed[learn_orders_mask],
    )
    table = compute.learn(learn_lines, learn_orders, params, window_end_day=split_day - 1 - learn_start_day)
    test_lines = lines.take(lines.day >= split_day)

    together = _evaluate_together(table, test_lines, params)
    later = _evaluate_later(table, lines, customer_orders, split_epoch, params)
    suggested = set()
    for group in table.groups:
        if group.kind in (SuggestionKind.BOUGHT_TOGETHER, SuggestionKind.BOUGHT_LATER):
            suggested.update(compute.unique(group.partner).tolist())
    sellable = set(
        Product.objects.for_merchant(merchant)
        .filter(active=True, is_placeholder=False, pk__in=suggested)
        .values_list("pk", flat=True)
    )
    notes = []
    if not together[0].enough_data:
        notes.append(f"Not enough data: {together[0].cases} test baskets with 2+ products (at least {MIN_CASES}).")
    if not later.enough_data:
        notes.append(f"Not enough data for bought later: {later.cases} returning customers (at least {MIN_CASES}).")
    return EvaluationReport(
        split_date=split_date,
        learn_start=earliest + dt.timedelta(days=learn_start_day),
        learn_end=split_date - dt.timedelta(days=1),
        test_end=end,
        learn_baskets=table.baskets_count,
        test_baskets=len(compute.unique(test_lines.order)),
        together=together,
        later=later,
        coverage=round(len(sellable) / catalogue, 4) if catalogue else None,
        catalogue_size=catalogue,
        suggested_products=len(sellable),
        seconds=round(time.perf_counter() - began, 3),
        notes=notes,
    )


def _evaluate_together(table: compute.SuggestionTable, test: compute.Lines, params) -> list[TogetherResult]:
    learnt = _ranked_lists(table, SuggestionKind.BOUGHT_TOGETHER)
    popular = {key: lists.get(0, np.empty(0)) for key, lists in _ranked_lists(table, SuggestionKind.BESTSELLER).items()}
    rng = np.random.default_rng(SEED)
    order = np.argsort(test.order, kind="stable")
    orders, products = test.order[order], test.product[order]
    stores, online = test.store[order], test.online[order]
    starts = np.r_[0, np.flatnonzero(np.diff(orders)) + 1] if len(orders) else np.empty(0, dtype=np.int64)
    stops = np.r_[starts[1:], len(orders)] if len(orders) else np.empty(0, dtype=np.int64)
    cases = []
    for start, stop in zip(starts.tolist(), stops.tolist(), strict=True):
        items = compute.unique(products[start:stop])
        if 2 <= len(items) <= params.max_basket_items:
            cases.append((items, int(stores[start]), bool(online[start])))
    if len(cases) > MAX_CASES:
        cases = [cases[i] for i in sorted(rng.choice(len(cases), MAX_CASES, replace=False).tolist())]
    tallies = {channel: [0, 0.0, 0.0, 0.0, 0.0] for channel in ("all", "online", "offline")}  # n, hit, rr, phit, prr
    empty = np.empty(0, dtype=np.int64)
    for items, store_id, is_online in cases:
        held_out, anchor = (int(v) for v in rng.choice(items, 2, replace=False))
        channel = "online" if is_online else "offline"
        scopes = [(SuggestionScope.ALL, None)]
        scopes.insert(0, (channel, None))
        if not is_online and store_id:
            scopes.insert(0, (SuggestionScope.STORE, store_id))
        skip = {int(v) for v in items if v != held_out}
        model = _top(
            [learnt.get(scope, {}).get(anchor, empty) for scope in scopes]
            + [popular.get(scope, empty) for scope in scopes],
            skip,
        )
        baseline = _top([popular.get(scope, empty) for scope in scopes], skip)
        for key in ("all", channel):
            tally = tallies[key]
            tally[0] += 1
            if held_out in model:
                tally[1] += 1
                tally[2] += 1 / (model.index(held_out) + 1)
            if held_out in baseline:
                tally[3] += 1
                tally[4] += 1 / (baseline.index(held_out) + 1)
    results = []
    for channel, (n, hits, rr, p_hits, p_rr) in tallies.items():
        if n < MIN_CASES:
            results.append(TogetherResult(channel, n, None, None, None, None))
        else:
            results.append(
                TogetherResult(
                    channel, n, round(hits / n, 4), round(rr / n, 4), round(p_hits / n, 4), round(p_rr / n, 4)
                )
            )
    return results


def _evaluate_later(
    table: compute.SuggestionTable,
    lines: compute.Lines,
    orders: compute.CustomerOrders,
    split_epoch: float,
    params,
    *,
    exclude_bought: bool = True,
    lists: dict[int, list] | None = None,
) -> LaterResult:
    """Recall@10 of the served "next purchase" list (``next_purchase.next_purchase_list``, the list
    ``selectors.recommend_for_customer`` answers without a store or channel: trending then bestsellers to fill,
    what the customer bought before the visit left out) beside the bestsellers. ``lists`` (tests): filled with
    each case's list, by customer."""
    later = _partners(table, SuggestionKind.BOUGHT_LATER)
    popular = _ranked_lists(table, SuggestionKind.BESTSELLER).get((SuggestionScope.ALL, None), {}).get(0)
    popular = popular if popular is not None else np.empty(0, dtype=np.int64)
    trending = _ranked_lists(table, SuggestionKind.TRENDING).get((SuggestionScope.ALL, None), {}).get(0)
    trending = trending if trending is not None else np.empty(0, dtype=np.int64)
    fills = [(SuggestionKind.TRENDING.value, trending), (SuggestionKind.BESTSELLER.value, popular)]
    # Products of every order, for the orders that matter.
    order = np.lexsort((orders.placed, orders.customer))
    customer, placed, order_ids = orders.customer[order], orders.placed[order], orders.order[order]
    if len(customer) < 2:
        return LaterResult(0, None, None)
    # The first test order of each customer, and the order just before it.
    is_test = placed >= split_epoch
    previous_same = np.r_[False, customer[1:] == customer[:-1]]
    first_test = is_test & previous_same & ~np.r_[False, is_test[:-1] & previous_same[1:]]
    index = np.flatnonzero(first_test)
    index = index[(~is_test[index - 1]) & (placed[index] - placed[index - 1] <= params.later_days * 86400)]
    if len(index) == 0:
        return LaterResult(0, None, None)
    # The customer's orders before the visit: the last one, the others of the ``HISTORY_DAYS`` before the visit
    # (most recent first), and (to leave out what they already bought) all of them. The visit's time is known
    # when the customer is recognised; its basket is not.
    first_of_customer = np.flatnonzero(~previous_same)
    customer_start = first_of_customer[np.searchsorted(first_of_customer, index, side="right") - 1]
    history: list[list[int]] = []
    for position, start in zip(index.tolist(), customer_start.tolist(), strict=True):
        recent = [position - 1]
        earlier = position - 2
        while earlier >= start and placed[position] - placed[earlier] <= HISTORY_DAYS * 86400:
            recent.append(earlier)
            earlier -= 1
        history.append(recent)
    before_visit = [np.arange(start, position) for position, start in zip(index, customer_start, strict=True)]
    wanted = np.r_[order_ids[index], order_ids[np.concatenate(before_visit)]]
    keep = np.isin(lines.order, wanted)
    by_order: dict[int, set[int]] = {}
    for order_id, product in zip(lines.order[keep].tolist(), lines.product[keep].tolist(), strict=True):
        by_order.setdefault(order_id, set()).add(product)
    cases = 0
    recall = popularity = 0.0
    top_popular = [int(v) for v in popular[:TOP_K]]
    for position, start, recent in zip(index.tolist(), customer_start.tolist(), history, strict=True):
        nxt = by_order.get(int(order_ids[position]))
        before = by_order.get(int(order_ids[position - 1]))
        if not nxt or not before:
            continue
        bought: set[int] = set()
        if exclude_bought:
            for earlier in range(start, position):
                bought |= by_order.get(int(order_ids[earlier]), set())
        model = next_purchase_list(
            later=later,
            last_order=sorted(before),
            last_order_days=float(placed[position] - placed[position - 1]) / 86400,
            recent_orders=[sorted(by_order.get(int(order_ids[o]), ())) for o in recent[1:]],
            fills=fills,
            skip=bought,
            limit=TOP_K,
        )
        if lists is not None:
            lists[int(customer[position])] = model
        cases += 1
        recall += len(nxt.intersection(pick.product for pick in model)) / len(nxt)
        popularity += len(nxt.intersection(top_popular)) / len(nxt)
    if cases < MIN_CASES:
        return LaterResult(cases, None, None)
    return LaterResult(cases, round(recall / cases, 4), round(popularity / cases, 4))
