"""rollups_mark_dirty: the touched merchant-days, and the hook that queues the analytics refresh on commit."""

from __future__ import annotations

import sys
import types
from datetime import date
from unittest import mock

import pytest

from sales import services
from sales.ingest.service import orders_ingest
from sales.models import DirtyDay
from sales.services import rollups_mark_dirty, rollups_refresh_enqueue

from .ingest_builders import order

pytestmark = pytest.mark.django_db


@pytest.fixture
def rollups_task(monkeypatch):
    """A stand-in for analytics.tasks.rollups_refresh_task (the next issue writes the real one)."""
    task = mock.Mock(name="rollups_refresh_task")
    module = types.ModuleType("analytics.tasks")
    module.rollups_refresh_task = task
    monkeypatch.setitem(sys.modules, "analytics.tasks", module)
    return task


@pytest.fixture
def no_analytics(monkeypatch):
    """As today: no analytics app (pointing the hook at a module that does not exist, whatever comes later)."""
    monkeypatch.setattr(services, "ROLLUPS_TASK_MODULE", "nr_analytics_absent.tasks")


def test_days_are_upserted_once_each(merchant, other_merchant, no_analytics):
    DirtyDay.objects.create(merchant=merchant, local_date=date(2024, 5, 1))

    rollups_mark_dirty(merchant, [date(2024, 5, 2), date(2024, 5, 1), date(2024, 5, 2)])
    rollups_mark_dirty(other_merchant, [date(2024, 5, 1)])

    assert sorted(DirtyDay.objects.values_list("merchant_id", "local_date")) == [
        (merchant.pk, date(2024, 5, 1)),
        (merchant.pk, date(2024, 5, 2)),
        (other_merchant.pk, date(2024, 5, 1)),
    ]


def test_no_days_no_query(merchant, django_assert_num_queries):
    with django_assert_num_queries(0):
        rollups_mark_dirty(merchant, [])


def test_the_hook_is_a_no_op_while_the_analytics_task_does_not_exist(
    merchant, no_analytics, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        rollups_mark_dirty(merchant, [date(2024, 5, 1)])

    assert len(callbacks) == 1
    assert rollups_refresh_enqueue(merchant.pk) is False


def test_a_module_without_the_task_is_a_no_op_too(merchant, monkeypatch):
    monkeypatch.setitem(sys.modules, "analytics.tasks", types.ModuleType("analytics.tasks"))

    assert rollups_refresh_enqueue(merchant.pk) is False


def test_a_broken_analytics_module_is_not_hidden(merchant, monkeypatch):
    # analytics.tasks exists but imports something missing: that is a bug to see, not a task to skip
    monkeypatch.setattr(services, "ROLLUPS_TASK_MODULE", "tests.sales.no_such_module")
    monkeypatch.setattr(
        services.importlib, "import_module", mock.Mock(side_effect=ModuleNotFoundError(name="celery_x"))
    )

    with pytest.raises(ModuleNotFoundError):
        rollups_refresh_enqueue(merchant.pk)


def test_an_ingest_queues_the_refresh_once_after_commit(merchant, rollups_task, django_capture_on_commit_callbacks):
    # When orders on two days are ingested
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        orders_ingest(merchant=merchant, orders=[order("1"), order("2", placed_at=order().placed_at.replace(day=20))])

    # Then nothing is queued before the commit, and once after it, for the merchant
    rollups_task.delay.assert_not_called()
    for callback in callbacks:
        callback()
    rollups_task.delay.assert_called_once_with(merchant.pk)
    assert sorted(DirtyDay.objects.values_list("local_date", flat=True)) == [date(2024, 5, 14), date(2024, 5, 20)]


def test_an_unchanged_batch_queues_nothing(merchant, rollups_task, django_capture_on_commit_callbacks):
    orders_ingest(merchant=merchant, orders=[order("1")])

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        orders_ingest(merchant=merchant, orders=[order("1")])

    assert callbacks == []


def test_a_failing_broker_does_not_fail_the_committed_ingest(
    merchant, rollups_task, django_capture_on_commit_callbacks
):
    rollups_task.delay.side_effect = ConnectionError("broker down")

    with django_capture_on_commit_callbacks(execute=True):
        [outcome] = orders_ingest(merchant=merchant, orders=[order("1")])

    assert outcome.result == "created"
    rollups_task.delay.assert_called_once_with(merchant.pk)
