"""Precomputed preset answers (``analytics.precompute``): equal to the live queries and to the oracle, deleted by
every rollup write in its transaction, recomputed after a refresh, coalesced, per merchant."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import date

import pytest
from django.core.cache import cache
from django.db import OperationalError, connection

from analytics import filters as filters_module
from analytics import precompute, selectors
from analytics.charts import choose_interval
from analytics.filters import Compare, Preset, merchant_today
from analytics.models import PrecomputedAnswer
from analytics.precompute import STORE_PRODUCTS_MAX_DAYS, precomputed_day, preset_filters, presets_precompute
from analytics.services import rollups_refresh
from analytics.tasks import presets_precompute_due_task, presets_precompute_task, rollups_refresh_task

from . import oracle
from .oracle import LAST_DAY, OrderGenerator, dataset_create, ingest
from .test_api import SUMMARY, decoded, key_client

pytestmark = pytest.mark.django_db


def dashboard_reads(filters) -> tuple:
    """What a dashboard page and the summary API read through the precomputable selectors."""
    return (
        selectors.summary(filters),
        selectors.customer_behaviour(filters),
        selectors.new_vs_returning(filters, interval=choose_interval(filters)),
        selectors.products(filters, limit=10),
        selectors.products(filters, limit=20),
    )


def oracle_reads(entries, filters) -> tuple:
    products = oracle.products(entries, filters)
    return (
        oracle.summary(entries, filters),
        oracle.customer_behaviour(entries, filters),
        oracle.new_vs_returning(entries, filters, choose_interval(filters)),
        products[:10],
        products[:20],
    )


def no_heavy_query(*args, **kwargs):
    raise AssertionError("computed live: the precomputed answer was not used")


@pytest.mark.parametrize("today", [LAST_DAY, date(2024, 3, 31)], ids=["last_day", "dst_month_end"])
def test_precomputed_answers_equal_the_live_queries_and_the_oracle(dataset, monkeypatch, today):
    merchant = dataset.merchant
    stores = [None, *(frozenset({store.pk}) for store in dataset.stores.values())]
    all_filters = [
        replace(filters, compare=compare, store_ids=store_ids)
        for filters in preset_filters(merchant.pk, today)
        for compare in (Compare.PREVIOUS, Compare.LAST_YEAR)
        for store_ids in stores
    ]
    # Given: the live answers (a custom range is never looked up in the precomputed table)
    live = {}
    for filters in all_filters:
        cache.clear()
        live[filters] = dashboard_reads(replace(filters, preset=Preset.CUSTOM))

    # When: the presets are precomputed and read with the live queries made impossible (top products per store:
    # for the presets up to a quarter only)
    result = presets_precompute(merchant_id=merchant.pk, today=today)
    fetch_heavy = selectors._fetch_heavy
    monkeypatch.setattr(selectors, "_customer_figures_query", no_heavy_query)

    # Then: every preset × channel × comparison × store reads the same figures, which are the oracle's
    assert result.day == today
    assert result.answers == PrecomputedAnswer.objects.filter(merchant=merchant).count() > 9 * 3 * 4 * 5
    entries = oracle.entries(merchant)
    for filters in all_filters:
        cache.clear()
        products_live = filters.store_ids is not None and filters.days > STORE_PRODUCTS_MAX_DAYS
        monkeypatch.setattr(selectors, "_fetch_heavy", fetch_heavy if products_live else no_heavy_query)
        precomputed = dashboard_reads(filters)
        assert precomputed == live[filters], filters
        assert precomputed == oracle_reads(entries, filters), filters
    assert any(reads[0].current.omnichannel_customers for reads in live.values())  # the data exercises it


def test_a_refresh_deletes_the_answers_and_its_task_queues_the_recompute(
    dataset, monkeypatch, django_capture_on_commit_callbacks
):
    merchant = dataset.merchant
    presets_precompute(merchant_id=merchant.pk, today=LAST_DAY)
    assert precomputed_day(merchant.pk) == LAST_DAY
    queued = []
    monkeypatch.setattr(presets_precompute_task, "delay", queued.append)

    # When: new sales land and the refresh task runs
    ingest(merchant, [dataset.generator.order(LAST_DAY)])
    with django_capture_on_commit_callbacks(execute=True):
        assert rollups_refresh_task.apply(args=[merchant.pk]).get() >= 1

    # Then: nothing computed from the old rollups is left, and the recompute is queued
    assert not PrecomputedAnswer.objects.filter(merchant=merchant).exists()
    assert precomputed_day(merchant.pk) is None
    assert queued == [merchant.pk]


def test_the_new_answers_include_the_new_sales(dataset):
    merchant = dataset.merchant
    last_7 = preset_filters(merchant.pk, LAST_DAY)[2 * 3]
    assert (last_7.preset, last_7.channel) == (Preset.LAST_7, None)
    presets_precompute(merchant_id=merchant.pk, today=LAST_DAY)
    before = selectors.summary(last_7).current.customers

    ingest(merchant, [replace(dataset.generator.order(LAST_DAY, customer="new-buyer"), status="completed")])
    rollups_refresh(merchant_id=merchant.pk)
    presets_precompute(merchant_id=merchant.pk, today=LAST_DAY)
    cache.clear()

    assert selectors.summary(last_7).current.customers == before + 1
    assert selectors.summary(last_7) == oracle.summary(oracle.entries(merchant), last_7)


def test_a_second_precompute_is_skipped_unless_forced_and_merchants_are_apart(dataset, other_merchant):
    merchant = dataset.merchant
    dataset_create(other_merchant)
    first = presets_precompute(merchant_id=merchant.pk, today=LAST_DAY)
    presets_precompute(merchant_id=other_merchant.pk, today=LAST_DAY)
    theirs = PrecomputedAnswer.objects.filter(merchant=other_merchant).count()

    assert presets_precompute(merchant_id=merchant.pk, today=LAST_DAY).answers == 0  # coalesced: nothing to do
    assert presets_precompute(merchant_id=merchant.pk, today=LAST_DAY, force=True).answers == first.answers

    # A refresh of one merchant deletes only its own answers
    ingest(merchant, [dataset.generator.order(LAST_DAY)])
    rollups_refresh(merchant_id=merchant.pk)
    assert not PrecomputedAnswer.objects.filter(merchant=merchant).exists()
    assert PrecomputedAnswer.objects.filter(merchant=other_merchant).count() == theirs


def test_the_periodic_task_queues_merchants_whose_answers_are_not_for_their_today(dataset, monkeypatch):
    merchant = dataset.merchant
    queued = []
    monkeypatch.setattr(presets_precompute_task, "delay", queued.append)
    presets_precompute(merchant_id=merchant.pk, today=LAST_DAY)  # yesterday's (long ago) answers

    assert presets_precompute_due_task.apply().get() == 1
    assert queued == [merchant.pk]

    presets_precompute_task.apply(args=[merchant.pk])  # the merchant's today now
    assert precomputed_day(merchant.pk) == merchant_today(merchant)
    assert presets_precompute_due_task.apply().get() == 0


@pytest.mark.django_db(transaction=True)
def test_a_refresh_during_the_precompute_does_not_wait_and_the_stale_answers_are_not_stored(merchant, monkeypatch):
    data = dataset_create(merchant)
    generator = OrderGenerator(data)
    ingest(merchant, generator.days(date(2024, 4, 1), LAST_DAY))
    rollups_refresh(merchant_id=merchant.pk)
    compute = precompute.presets_answers
    refreshes = []

    def answers_then_a_refresh(merchant_id, today):
        answers = compute(merchant_id, today)  # from the snapshot, before the new sales

        def refresh():
            try:
                ingest(merchant, [replace(generator.order(LAST_DAY, customer="late"), status="completed")])
                refreshes.append(rollups_refresh(merchant_id=merchant.pk))
            finally:
                connection.close()

        thread = threading.Thread(target=refresh)
        thread.start()
        thread.join(timeout=30)
        return answers

    # When: a refresh commits while the precompute is computing
    monkeypatch.setattr(precompute, "presets_answers", answers_then_a_refresh)
    with pytest.raises(OperationalError, match="could not serialize access"):
        presets_precompute(merchant_id=merchant.pk, today=LAST_DAY)

    # Then: the refresh did not wait for it, and nothing computed before the refresh was stored
    assert len(refreshes) == 1
    assert refreshes[0].days
    assert not PrecomputedAnswer.objects.filter(merchant=merchant).exists()

    # And the retry stores answers that include the new sales
    monkeypatch.undo()
    assert presets_precompute(merchant_id=merchant.pk, today=LAST_DAY).answers > 0
    last_7 = replace(preset_filters(merchant.pk, LAST_DAY)[2 * 3], compare=Compare.NONE)
    monkeypatch.setattr(selectors, "_customer_figures_query", no_heavy_query)
    cache.clear()
    assert selectors.summary(last_7) == oracle.summary(oracle.entries(merchant), last_7)


def test_the_summary_api_reads_a_precomputed_preset_in_bounded_queries(dataset, monkeypatch, django_assert_num_queries):
    merchant = dataset.merchant
    monkeypatch.setattr(filters_module, "merchant_today", lambda merchant: LAST_DAY)
    presets_precompute(merchant_id=merchant.pk, today=LAST_DAY)
    cache.clear()
    client = key_client(merchant)
    last_90 = next(f for f in preset_filters(merchant.pk, LAST_DAY) if (f.preset, f.channel) == ("last_90", "offline"))
    expected = oracle.summary(oracle.entries(merchant), last_90)

    # the key, then per period: sales and the precomputed customer figures (no customer × day rows read)
    with django_assert_num_queries(1 + 2 * 2) as captured:
        response = client.get(SUMMARY, {"preset": "last_90", "channel": "offline"})

    assert response.status_code == 200
    assert not [query for query in captured.captured_queries if "analytics_customerday" in query["sql"]]
    body = response.json()
    assert decoded(body, expected.current) == expected.current.__dict__
    assert decoded(body["comparison"], expected.comparison) == expected.comparison.__dict__
    assert expected.current.customers > 0


def test_the_task_holds_the_rollup_lock_after_failed_tries(dataset, monkeypatch):
    calls = []
    monkeypatch.setattr(
        "analytics.tasks.presets_precompute",
        lambda **kwargs: calls.append(kwargs) or precompute.PrecomputeResult(kwargs["merchant_id"], None, 0, 0.0),
    )

    presets_precompute_task.apply(args=[dataset.merchant.pk])
    presets_precompute_task.apply(args=[dataset.merchant.pk], retries=1)
    presets_precompute_task.apply(args=[dataset.merchant.pk], retries=2)

    assert [call["exclusive"] for call in calls] == [False, False, True]
