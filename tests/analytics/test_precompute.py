"""Precomputed preset answers (``analytics.precompute``): equal to the live queries and to the oracle, deleted by
every rollup write in its transaction, never stored from a snapshot older than a rollup write (refresh, rebuild of
derived tables), recomputed after a refresh, single-flight per merchant (``analytics.tasks``), per merchant."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import date

import psycopg
import pytest
from django.core.cache import cache
from django.db import OperationalError, connection

from analytics import filters as filters_module
from analytics import precompute, selectors, services, tasks
from analytics.charts import choose_interval
from analytics.filters import Compare, Preset, merchant_today
from analytics.models import PrecomputedAnswer
from analytics.precompute import STORE_PRODUCTS_MAX_DAYS, precomputed_day, preset_filters, presets_precompute
from analytics.services import rollups_rebuild_derived, rollups_refresh
from analytics.tasks import (
    SNAPSHOT_TRIES,
    presets_precompute_due_task,
    presets_precompute_request,
    presets_precompute_task,
    rollups_refresh_task,
)

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
    monkeypatch.setattr(presets_precompute_task, "delay", lambda *args: queued.append(args))

    # When: new sales land and the refresh task runs
    ingest(merchant, [dataset.generator.order(LAST_DAY)])
    with django_capture_on_commit_callbacks(execute=True):
        assert rollups_refresh_task.apply(args=[merchant.pk]).get() >= 1

    # Then: nothing computed from the old rollups is left, and the recompute is queued
    assert not PrecomputedAnswer.objects.filter(merchant=merchant).exists()
    assert precomputed_day(merchant.pk) is None
    assert [args[0] for args in queued] == [merchant.pk]


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
    monkeypatch.setattr(presets_precompute_task, "delay", lambda *args: queued.append(args))
    presets_precompute(merchant_id=merchant.pk, today=LAST_DAY)  # yesterday's (long ago) answers

    assert presets_precompute_due_task.apply().get() == 1
    assert [args[0] for args in queued] == [merchant.pk]
    # The next beat, before that task ran: the merchant's precompute is queued already, not queued again
    assert presets_precompute_due_task.apply().get() == 0
    assert len(queued) == 1

    presets_precompute_task.apply(args=queued[0])  # the merchant's today now
    assert precomputed_day(merchant.pk) == merchant_today(merchant)
    assert presets_precompute_due_task.apply().get() == 0
    assert len(queued) == 1


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


# --- single-flight (``analytics.tasks``) -------------------------------------------------------------------


@pytest.fixture
def queued(monkeypatch):
    """The precompute tasks queued (their arguments), instead of sent to a broker."""
    calls = []
    monkeypatch.setattr(presets_precompute_task, "delay", lambda *args: calls.append(args))
    return calls


@pytest.fixture
def computed(monkeypatch):
    """The precomputes the task runs (their merchant), each the real one."""
    calls = []
    real = tasks.presets_precompute

    def counting(**kwargs):
        calls.append(kwargs["merchant_id"])
        return real(**kwargs)

    monkeypatch.setattr(tasks, "presets_precompute", counting)
    return calls


def test_a_burst_of_refreshes_queues_one_precompute(dataset, queued, django_capture_on_commit_callbacks):
    merchant = dataset.merchant

    # When: three batches land, each followed by its refresh task, before any precompute ran
    for _ in range(3):
        ingest(merchant, [dataset.generator.order(LAST_DAY)])
        with django_capture_on_commit_callbacks(execute=True):
            assert rollups_refresh_task.apply(args=[merchant.pk]).get() >= 1

    # Then: one precompute is queued for the merchant, and the beat does not add another
    assert [args[0] for args in queued] == [merchant.pk]
    assert presets_precompute_due_task.apply().get() == 0
    assert len(queued) == 1


def test_a_refresh_during_a_running_precompute_leads_to_exactly_one_follow_up(dataset, queued, monkeypatch):
    merchant = dataset.merchant
    assert presets_precompute_request(merchant.pk)
    assert len(queued) == 1
    real = tasks.presets_precompute
    runs = []

    def with_refreshes_meanwhile(**kwargs):
        runs.append(kwargs)
        if len(runs) == 1:  # two refreshes commit while the first run computes: their requests queue nothing
            assert not presets_precompute_request(merchant.pk)
            assert not presets_precompute_request(merchant.pk)
            assert len(queued) == 1
        return real(**kwargs)

    monkeypatch.setattr(tasks, "presets_precompute", with_refreshes_meanwhile)

    # When: the queued task runs
    assert presets_precompute_task.apply(args=queued[0]).get() > 0

    # Then: exactly one follow-up is queued at its end, under a flight of its own
    assert len(queued) == 2
    assert queued[1][0] == merchant.pk
    assert queued[1][1] != queued[0][1]
    assert not presets_precompute_request(merchant.pk, follow_up=False)  # it holds the flight
    # The first task delivered again (a duplicate) does nothing; the follow-up runs and queues nothing more
    assert presets_precompute_task.apply(args=queued[0]).get() == 0
    assert len(runs) == 1
    presets_precompute_task.apply(args=queued[1])
    assert len(runs) == 2
    assert len(queued) == 2
    # The flight is released: the next refresh queues again
    assert presets_precompute_request(merchant.pk)
    assert len(queued) == 3


def test_a_task_that_starts_while_another_holds_the_flight_exits(dataset, queued, computed):
    merchant = dataset.merchant
    assert presets_precompute_request(merchant.pk)
    token = queued[0][1]

    # A task of another flight, and one queued without a flight, while this one is queued (or running)
    assert presets_precompute_task.apply(args=[merchant.pk, "another-flight"]).get() == 0
    assert presets_precompute_task.apply(args=[merchant.pk]).get() == 0
    assert computed == []

    # The flight's own task computes (its snapshot, read after them, covers their requests: no follow-up)
    assert presets_precompute_task.apply(args=[merchant.pk, token]).get() > 0
    assert computed == [merchant.pk]
    assert len(queued) == 1
    assert precomputed_day(merchant.pk) == merchant_today(merchant)


def test_a_task_that_fails_for_good_releases_the_flight(dataset, queued, monkeypatch):
    merchant = dataset.merchant
    assert presets_precompute_request(merchant.pk)
    conflict = OperationalError("could not serialize access due to concurrent update")
    conflict.__cause__ = psycopg.errors.SerializationFailure()
    calls = []

    def always_conflicting(**kwargs):
        calls.append(kwargs)
        raise conflict

    monkeypatch.setattr(tasks, "presets_precompute", always_conflicting)

    # Each run tries from a fresh snapshot a bounded number of times (never with the rollup lock held), then
    # Celery retries it later; the last retry's failure releases the flight
    with pytest.raises(OperationalError):
        presets_precompute_task.apply(args=queued[0], retries=presets_precompute_task.max_retries, throw=True)
    assert len(calls) == SNAPSHOT_TRIES
    assert all(set(call) == {"merchant_id"} for call in calls)
    assert presets_precompute_request(merchant.pk)
    assert len(queued) == 2


@pytest.mark.django_db(transaction=True)
def test_the_task_computes_again_from_a_fresh_snapshot_after_a_conflicting_refresh(merchant, monkeypatch):
    data = dataset_create(merchant)
    generator = OrderGenerator(data)
    ingest(merchant, generator.days(date(2024, 4, 1), LAST_DAY))
    rollups_refresh(merchant_id=merchant.pk)
    compute = precompute.presets_answers
    computes, refreshes = [], []

    def answers_then_a_refresh(merchant_id, today):
        computes.append(today)
        answers = compute(merchant_id, today)
        if len(computes) == 1:  # a refresh commits while the first snapshot is being computed from

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

    monkeypatch.setattr(precompute, "presets_answers", answers_then_a_refresh)
    monkeypatch.setattr(filters_module, "merchant_today", lambda merchant: LAST_DAY)
    monkeypatch.setattr(precompute, "merchant_today", lambda merchant: LAST_DAY)
    queued = []
    monkeypatch.setattr(presets_precompute_task, "delay", lambda *args: queued.append(args))
    assert presets_precompute_request(merchant.pk)

    # When: the task runs, and a refresh commits during its first computation
    assert presets_precompute_task.apply(args=queued[0]).get() > 0

    # Then: the refresh did not wait, the task computed again at once (a second snapshot), no follow-up queued
    assert len(refreshes) == 1
    assert refreshes[0].days
    assert len(computes) == 2
    assert len(queued) == 1
    last_7 = replace(preset_filters(merchant.pk, LAST_DAY)[2 * 3], compare=Compare.NONE)
    monkeypatch.setattr(selectors, "_customer_figures_query", no_heavy_query)
    cache.clear()
    assert selectors.summary(last_7) == oracle.summary(oracle.entries(merchant), last_7)


@pytest.mark.django_db(transaction=True)
def test_answers_computed_before_a_rebuild_of_derived_tables_are_not_stored(merchant, monkeypatch):
    data = dataset_create(merchant)
    generator = OrderGenerator(data)
    ingest(merchant, generator.days(date(2024, 3, 1), LAST_DAY))
    rollups_refresh(merchant_id=merchant.pk)
    # Given: wrong first order days on the customer rows (every customer counted as returning), which
    # ``rebuild_rollups --only first_dates`` repairs
    with connection.cursor() as cursor:
        cursor.execute("UPDATE analytics_customerday SET first_date = NULL WHERE merchant_id = %s", [merchant.pk])
    copy, bump = services._first_dates_copy, services.rollups_version_bump
    rebuilding, snapshot_read, committed, stored = (threading.Event() for _ in range(4))
    rebuilds = []

    def copy_once_the_snapshot_is_read(*args):
        rebuilding.set()  # its lock is held and the merchant's answers deleted: before the precompute starts
        assert snapshot_read.wait(timeout=30)
        copy(*args)

    def bump_late_after_the_commit(merchant_id):
        if not connection.in_atomic_block:  # the on-commit bump: after the lock is released, maybe late
            committed.set()
            stored.wait(timeout=30)
        bump(merchant_id)

    def rebuild():
        try:
            rebuilds.append(rollups_rebuild_derived(merchant_id=merchant.pk, names=["first_dates"]))
        finally:
            connection.close()

    monkeypatch.setattr(services, "_first_dates_copy", copy_once_the_snapshot_is_read)
    monkeypatch.setattr(services, "rollups_version_bump", bump_late_after_the_commit)
    compute = precompute.presets_answers

    def answers_then_the_rebuild_commits(merchant_id, today):
        answers = compute(merchant_id, today)  # from the snapshot: the wrong first order days
        snapshot_read.set()
        assert committed.wait(timeout=30)
        return answers

    monkeypatch.setattr(precompute, "presets_answers", answers_then_the_rebuild_commits)

    # When: the rebuild starts, then a precompute reads its snapshot, then the rebuild commits (its on-commit
    # cache bump comes after the precompute's check)
    thread = threading.Thread(target=rebuild)
    thread.start()
    try:
        assert rebuilding.wait(timeout=30)
        with pytest.raises(OperationalError, match="could not serialize access"):
            presets_precompute(merchant_id=merchant.pk, today=LAST_DAY)
    finally:
        stored.set()
        thread.join(timeout=30)

    # Then: nothing computed from before the rebuild was stored
    assert len(rebuilds) == 1
    assert not PrecomputedAnswer.objects.filter(merchant=merchant).exists()

    # And the next precompute stores the repaired figures
    monkeypatch.undo()
    assert presets_precompute(merchant_id=merchant.pk, today=LAST_DAY).answers > 0
    last_30 = replace(preset_filters(merchant.pk, LAST_DAY)[3 * 3], compare=Compare.NONE)
    monkeypatch.setattr(selectors, "_customer_figures_query", no_heavy_query)
    cache.clear()
    expected = oracle.summary(oracle.entries(merchant), last_30)
    assert selectors.summary(last_30) == expected
    assert 0 < expected.current.returning_customers < expected.current.customers
