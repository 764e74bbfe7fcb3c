"""A customer's "next purchase" list: the one ranking behind the served list
(``recommendations.selectors.recommend_for_customer``) and the bought-later evaluation
(``recommendations.evaluate``), so that the published figure is the served list's and the two cannot drift.

``next_purchase_list(*, later, last_order, last_order_days, recent_orders, fills, skip, limit) -> list[NextPick]``:

1. the ``LAST_ORDER_PARTNERS`` (2) best bought-later partners of every product of the customer's last order
   (every product's first partner, then every product's second; within a rank, the stronger pair first) — only
   when that order is of the ``HISTORY_DAYS`` (30) before the visit (``last_order_days``, days from it to the
   visit): an older last order gives no bought-later picks, the list is the fill (on seed_demo the bought-later
   partners of an order 31–90 days old are bought less often than the bestsellers: recall 0.11 vs 0.15);
2. the best bought-later partner of every product of the customer's other orders of the ``HISTORY_DAYS`` (30)
   before the visit, most recent order first;
3. the fill lists, in the order given (the served list: trending, then bestsellers, of its scopes).

Items in ``skip`` (what the customer already bought, blocks, unsellable products) and repeats are left out; at
most ``limit`` items. ``later`` maps a product to its bought-later partners and their scores, best first (any
sequences: the evaluation passes numpy arrays, the server lists). A bought-later pick says which products of the
customer's orders lead to it (``follows``, in the order above).
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass

LAST_ORDER_PARTNERS = 2  # bought-later partners taken per product of the customer's last order
HISTORY_DAYS = 30  # only orders of these days before the visit give bought-later picks (the last one 2 per product)
BOUGHT_LATER = "bought_later"


@dataclass(frozen=True)
class NextPick:
    product: int
    kind: str  # "bought_later" or the label of the fill list it came from
    follows: tuple[int, ...] = ()  # bought_later: the customer's products it follows, strongest first
    fill: int | None = None  # fill picks: the index of their list in ``fills``


def later_candidates(later: Mapping[int, tuple[Sequence, Sequence]], products: Iterable[int], depth: int):
    """(partner, product it follows) of the best ``depth`` bought-later partners of each of ``products``: every
    product's first, then every product's second, ... (within a rank, the stronger pair first)."""
    ranked = []
    for product in products:
        partners, scores = later.get(product, ((), ()))
        for rank, (partner, score) in enumerate(zip(list(partners[:depth]), list(scores[:depth]), strict=True)):
            ranked.append((rank, -float(score), int(partner), int(product)))
    ranked.sort(key=lambda entry: entry[:3])  # stable: ties keep the order of ``products``
    return [(partner, product) for _, _, partner, product in ranked]


def next_purchase_list(
    *,
    later: Mapping[int, tuple[Sequence, Sequence]],
    last_order: Iterable[int],
    last_order_days: float,
    recent_orders: Iterable[Iterable[int]],
    fills: Sequence[tuple[str, Iterable[int]]],
    skip: Container[int] = frozenset(),
    limit: int = 10,
) -> list[NextPick]:
    if last_order_days > HISTORY_DAYS:
        last_order, recent_orders = (), ()  # the other orders are older still: no bought-later picks
    candidates = later_candidates(later, last_order, LAST_ORDER_PARTNERS)
    for products in recent_orders:
        candidates += later_candidates(later, products, 1)
    follows: dict[int, list[int]] = {}
    for partner, product in candidates:
        leads = follows.setdefault(partner, [])
        if product not in leads:
            leads.append(product)
    chosen: list[NextPick] = []
    seen: set[int] = set()
    for partner, _product in candidates:
        if partner in seen or partner in skip:
            continue
        seen.add(partner)
        chosen.append(NextPick(partner, BOUGHT_LATER, tuple(follows[partner])))
        if len(chosen) >= limit:
            return chosen
    for index, (kind, items) in enumerate(fills):
        for item in items:
            item = int(item)
            if item in seen or item in skip:
                continue
            seen.add(item)
            chosen.append(NextPick(item, kind, fill=index))
            if len(chosen) >= limit:
                return chosen
    return chosen
