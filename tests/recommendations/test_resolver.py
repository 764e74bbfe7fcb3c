"""The resolver (recommendations.selectors.recommend) on planted baskets: order, scopes, rules, filters, cache."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from recommendations.compute import ComputeParams
from recommendations.models import RecommendationRule, RecommendationRuleStore
from recommendations.selectors import product_suggestions, recommend, recommendation_state_get
from recommendations.services import (
    recommendation_compute_request,
    recommendation_job_run,
    recommendations_cache_invalidate,
)
from sales.models import Order, OrderLine

from .baskets import plant_baskets

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 6, 15)
PARAMS = ComputeParams(scope_min_baskets=10)


def compute(merchant, params=PARAMS):
    job = recommendation_compute_request(merchant=merchant, enqueue=False)
    job = recommendation_job_run(job.pk, params=params, today=TODAY)
    assert job.status == "succeeded", job.error_message
    return job


@pytest.fixture
def planted(merchant):
    planted = plant_baskets(merchant, today=TODAY)
    compute(merchant)
    return planted


def rule(planted, kind, target, product=None, *, category=None, channel="all", stores=(), position=0, **window):
    created = RecommendationRule.objects.create(
        merchant=planted.merchant,
        kind=kind,
        product=planted.products[product] if product else None,
        category=category,
        target=planted.products[target],
        channel=channel,
        position=position,
        **window,
    )
    for code in stores:
        RecommendationRuleStore.objects.create(merchant=planted.merchant, rule=created, store=planted.stores[code])
    recommendations_cache_invalidate(planted.merchant.pk)
    return created


def skus(result):
    return [item.sku for item in result.items]


def test_the_planted_complement_comes_first_with_its_evidence_not_the_popular_item(planted):
    result = recommend(merchant=planted.merchant, product=planted.products["A"])
    first = result.items[0]
    assert (first.sku, first.scope, first.name, first.price) == ("B", "all", "Product B", planted.products["B"].price)
    assert first.reason == {
        "kind": "bought_together",
        "shared_baskets": 120,
        "confidence": 1.0,
        "lift": 5.67,  # 680 baskets / 120 with B
        "baskets_offline": 60,
        "baskets_online": 60,
    }
    assert first.score == pytest.approx(120 / 125, abs=1e-6)
    assert skus(result).index("POP") > 0
    assert result.computed_at == recommendation_state_get(merchant=planted.merchant).computed_at
    assert (result.learnt_scope, result.fallback) == ("all", False)


@pytest.mark.parametrize(
    ("_case", "store", "channel", "first", "scope"),
    [
        ("in store S1: its own pairing", "S1", None, "D", "store:S1"),
        ("in store S2", "S2", None, "E", "store:S2"),
        ("online", None, "online", "E", "online"),
        ("everywhere", None, None, "E", "all"),
    ],
)
def test_the_store_specific_partner_comes_first_in_that_store(planted, _case, store, channel, first, scope):
    result = recommend(
        merchant=planted.merchant,
        product=planted.products["C"],
        store=planted.stores[store] if store else None,
        channel=channel,
    )
    assert (result.items[0].sku, result.items[0].scope) == (first, scope)
    assert result.fallback is False


def test_a_store_without_enough_support_falls_back_to_the_wider_list_and_says_so(merchant):
    planted = plant_baskets(merchant, today=TODAY)
    compute(merchant, ComputeParams(scope_min_baskets=31))  # C has 30 baskets in S1: no list of its own there
    result = recommend(merchant=merchant, product=planted.products["C"], store=planted.stores["S1"])
    assert (result.learnt_scope, result.fallback) == ("offline", True)
    assert result.items[0].scope == "offline"
    assert result.notes == ["Not enough baskets in scope store:S1 for its own list: suggestions come from offline."]


def test_bought_later_then_trending_fill_the_limit(planted):
    result = recommend(merchant=planted.merchant, product=planted.products["X"], limit=10)
    assert len(result.items) == 10
    assert result.items[0].sku == "Y"
    assert result.items[0].reason == {"kind": "bought_later", "customers": 40, "confidence": 1.0, "lift": 1.0}
    assert {item.reason["kind"] for item in result.items[1:]} == {"trending"}
    assert "X" not in skus(result)  # never the product itself
    assert len(set(skus(result))) == 10


def test_limit_is_clamped_to_1_50(planted):
    assert len(recommend(merchant=planted.merchant, product=planted.products["A"], limit=0).items) == 1
    assert len(recommend(merchant=planted.merchant, product=planted.products["A"], limit=500).items) <= 50


def test_pins_of_the_most_specific_scope_win(planted):
    category = planted.products["A"].category
    rule(planted, "pin", "F01", "A")
    rule(planted, "pin", "F02", "A", channel="online")
    rule(planted, "pin", "F03", "A", stores=["S1"])
    rule(planted, "pin", "F04", category=category)
    merchant, a, c = planted.merchant, planted.products["A"], planted.products["C"]

    everywhere = recommend(merchant=merchant, product=a)
    online = recommend(merchant=merchant, product=a, channel="online")
    in_s1 = recommend(merchant=merchant, product=a, store=planted.stores["S1"])
    in_s2 = recommend(merchant=merchant, product=a, store=planted.stores["S2"])
    by_category = recommend(merchant=merchant, product=c)

    def pinned(result):
        return [(item.sku, item.scope) for item in result.items if item.reason["kind"] == "pinned"]

    assert pinned(everywhere) == [("F01", "all")]  # the product's pin beats its category's in the same scope
    assert pinned(online) == [("F02", "online")]
    assert pinned(in_s1) == [("F03", "store:S1")]
    assert pinned(in_s2) == [("F01", "all")]  # offline has no pin: the "all" scope answers
    assert pinned(by_category) == [("F04", "all")]
    assert everywhere.items[0].reason["rule_for"] == "product"
    assert by_category.items[0].reason["rule_for"] == "category"
    assert skus(everywhere)[:2] == ["F01", "B"]


def test_pins_come_in_position_order(planted):
    rule(planted, "pin", "F05", "A", position=2)
    rule(planted, "pin", "F06", "A", position=0)
    rule(planted, "pin", "F07", "A", position=1)
    assert skus(recommend(merchant=planted.merchant, product=planted.products["A"]))[:4] == ["F06", "F07", "F05", "B"]


def test_campaign_windows_use_the_merchants_local_day(planted, monkeypatch):
    # 22:30 UTC on 15 June is already 16 June in Paris (the merchant's time zone)
    instant = dt.datetime(2026, 6, 15, 22, 30, tzinfo=dt.UTC)
    monkeypatch.setattr(timezone, "now", lambda: instant)
    june_16 = dt.date(2026, 6, 16)
    rule(planted, "pin", "F01", "A", starts_on=june_16)  # starts today (local)
    rule(planted, "pin", "F02", "A", position=1, starts_on=june_16 + dt.timedelta(days=1))  # not yet
    rule(planted, "pin", "F03", "A", position=2, ends_on=june_16)  # ends today (inclusive)
    rule(planted, "pin", "F04", "A", position=3, ends_on=dt.date(2026, 6, 15))  # ended yesterday (local)
    rule(planted, "exclude", "B", "A", starts_on=june_16, ends_on=june_16)
    result = recommend(merchant=planted.merchant, product=planted.products["A"])
    assert [i.sku for i in result.items if i.reason["kind"] == "pinned"] == ["F01", "F03"]
    assert "B" not in skus(result)


def test_exclusions_and_blocks_win_over_suggestions_and_pins(planted):
    merchant, a = planted.merchant, planted.products["A"]
    assert "B" in skus(recommend(merchant=merchant, product=a))
    rule(planted, "exclude", "B", "A")
    assert "B" not in skus(recommend(merchant=merchant, product=a))
    # A pin in a more specific scope does not beat an exclusion
    rule(planted, "pin", "B", "A", stores=["S1"])
    assert "B" not in skus(recommend(merchant=merchant, product=a, store=planted.stores["S1"]))
    # A global block removes the target everywhere, for every product, pinned or learnt
    rule(planted, "block", "E")
    rule(planted, "pin", "E", "C", channel="online")
    for store, channel in ((None, None), (None, "online"), ("S2", None)):
        result = recommend(
            merchant=merchant,
            product=planted.products["C"],
            store=planted.stores[store] if store else None,
            channel=channel,
        )
        assert "E" not in skus(result)


def test_exclusions_by_category_and_by_scope(planted):
    merchant, a = planted.merchant, planted.products["A"]
    rule(planted, "exclude", "B", category=a.category, stores=["S1"])
    assert "B" not in skus(recommend(merchant=merchant, product=a, store=planted.stores["S1"]))
    assert skus(recommend(merchant=merchant, product=a, store=planted.stores["S2"]))[0] == "B"
    assert skus(recommend(merchant=merchant, product=a, channel="online"))[0] == "B"


@pytest.mark.parametrize(
    ("_case", "change"),
    [("inactive", {"active": False}), ("placeholder", {"is_placeholder": True}), ("zero price", {"price": 0}),
     ("no price", {"price": None})],
)  # fmt: skip
def test_unsellable_products_are_never_shown(planted, _case, change):
    type(planted.products["B"]).objects.filter(pk=planted.products["B"].pk).update(**change)
    rule(planted, "pin", "B", "C")
    assert "B" not in skus(recommend(merchant=planted.merchant, product=planted.products["A"]))
    assert "B" not in skus(recommend(merchant=planted.merchant, product=planted.products["C"]))


def test_what_the_customer_already_bought_is_left_out_on_request(planted):
    customer = planted.customers[0]  # bought X, then Y
    x = planted.products["X"]
    assert "Y" not in skus(recommend(merchant=planted.merchant, product=x, customer=customer))
    assert skus(recommend(merchant=planted.merchant, product=x, customer=customer, exclude_bought=False))[0] == "Y"


def test_a_merged_customer_is_followed_to_the_survivor(planted):
    survivor, merged = planted.customers[0], planted.customers[1]
    type(merged).objects.filter(pk=merged.pk).update(merged_into=survivor)
    merged.refresh_from_db()
    Order.objects.filter(customer=merged).update(customer=survivor)
    assert "Y" not in skus(recommend(merchant=planted.merchant, product=planted.products["X"], customer=merged))


def test_query_count_and_cache(planted, django_assert_num_queries):
    merchant, a = planted.merchant, planted.products["A"]
    customer = planted.customers[0]
    # state, rules, suggestions, products, the customer's purchases, and the fill lists (trending, bestsellers) of
    # the store, the channel and everything: those once per process and computation
    with django_assert_num_queries(8):
        first = recommend(merchant=merchant, product=a, store=planted.stores["S1"], customer=customer)
    with django_assert_num_queries(0):
        again = recommend(merchant=merchant, product=a, store=planted.stores["S1"], customer=customer)
    assert again == first
    with django_assert_num_queries(5):  # another product: the fill lists are already in the process
        recommend(merchant=merchant, product=planted.products["B"], store=planted.stores["S1"], customer=customer)


def test_the_cache_invalidates_on_rule_change_and_on_a_new_computation(planted):
    merchant, a = planted.merchant, planted.products["A"]
    before = recommend(merchant=merchant, product=a)
    assert before.items[0].sku == "B"
    RecommendationRule.objects.create(merchant=merchant, kind="exclude", product=a, target=planted.products["B"])
    assert recommend(merchant=merchant, product=a) == before  # cached until invalidated
    recommendations_cache_invalidate(merchant.pk)
    assert recommend(merchant=merchant, product=a).items[0].sku != "B"
    RecommendationRule.objects.filter(merchant=merchant).delete()
    recommendations_cache_invalidate(merchant.pk)
    # A new computation (here on data where A now goes with F00) shows at once, without any explicit invalidation
    stale = recommend(merchant=merchant, product=a)
    order = Order.objects.filter(merchant=merchant, external_id="0").get()
    OrderLine.objects.filter(order__merchant=merchant, product=planted.products["B"]).update(
        product=planted.products["F00"]
    )
    compute(merchant)
    fresh = recommend(merchant=merchant, product=a)
    assert stale.items[0].sku == "B"
    assert (fresh.items[0].sku, fresh.computed_at > stale.computed_at) == ("F00", True)
    assert order.pk


def test_tenancy_of_the_resolver_and_the_editor_reads(planted, other_merchant):
    other = plant_baskets(other_merchant, today=TODAY, prefix="O-")
    # The other merchant's data is not computed yet, and its rules do not touch ours
    RecommendationRule.objects.create(
        merchant=other_merchant, kind="block", target=other.products["B"]
    )  # its own B, not ours
    recommendations_cache_invalidate(other_merchant.pk)
    ours = recommend(merchant=planted.merchant, product=planted.products["A"])
    assert ours.items[0].sku == "B"
    theirs = recommend(merchant=other_merchant, product=other.products["A"])
    assert theirs.items == []
    assert theirs.computed_at is None
    assert theirs.notes == ["Suggestions have not been computed yet."]
    with pytest.raises(ValueError, match="another merchant"):
        recommend(merchant=planted.merchant, product=other.products["A"])
    with pytest.raises(ValueError, match="another merchant"):
        recommend(merchant=planted.merchant, product=planted.products["A"], store=other.stores["S1"])
    with pytest.raises(ValueError, match="another merchant"):
        product_suggestions(merchant=planted.merchant, product=other.products["A"])


def test_product_suggestions_lists_the_learnt_evidence_for_the_editor(planted, django_assert_num_queries):
    with django_assert_num_queries(2):
        rows = product_suggestions(merchant=planted.merchant, product=planted.products["A"])
    assert (rows[0].sku, rows[0].kind, rows[0].support, rows[0].baskets_online) == ("B", "bought_together", 120, 60)
    in_store = product_suggestions(
        merchant=planted.merchant, product=planted.products["C"], scope="store", store=planted.stores["S1"]
    )
    assert in_store[0].sku == "D"
