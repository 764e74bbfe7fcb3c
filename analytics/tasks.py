"""Celery tasks of the analytics app."""

from __future__ import annotations

import logging
import uuid

from celery import shared_task
from django.core.cache import cache
from django.db import OperationalError, connection, transaction

from analytics.models import RollupState
from analytics.precompute import precomputed_day, presets_precompute
from analytics.services import rollups_refresh
from merchants.models import Merchant

logger = logging.getLogger(__name__)


@shared_task(
    name="analytics.rollups_refresh",
    queue="default",
    acks_late=True,  # a worker lost mid-refresh leaves the message (and, rolled back, the dirty days) to redo
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=(OperationalError,),  # a lost connection, a deadlock, a statement timeout: try again later
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=8,
)
def rollups_refresh_task(merchant_id: int) -> int:
    """Queued on commit by every ingest (``sales.services.rollups_mark_dirty``). Coalesced: the first task
    claims every dirty day of the merchant; tasks queued by the same burst wait for its lock and then find
    nothing to do. Idempotent. Returns the number of days rewritten; when there were some, the preset answers
    (which the refresh deleted) are computed again: ``presets_precompute_request`` (one queued or running per
    merchant)."""
    days = len(rollups_refresh(merchant_id=merchant_id).days)
    if days:  # committed already (run at once) unless a caller's transaction is open (then at its commit)
        transaction.on_commit(lambda: presets_precompute_request(merchant_id))
    return days


FLIGHT_SECONDS = 1800  # a flight outlives its task (time limit, retries' backoff) unless a worker vanished
SNAPSHOT_TRIES = 2  # in one run, from a fresh snapshot each (then the task retries later, see below)


def _flight_key(merchant_id: int) -> str:
    return f"analytics:precompute:{connection.settings_dict['NAME']}:{merchant_id}"


def _dirty_key(merchant_id: int) -> str:
    return f"{_flight_key(merchant_id)}:dirty"


def presets_precompute_request(merchant_id: int, *, follow_up: bool = True) -> bool:
    """Queue the merchant's preset precompute unless one is queued or running already (single-flight: the flight
    is a cache key added with a token the task carries). ``follow_up`` (a rollup write committed): if one is
    running, it runs once more when it ends — the *dirty* flag, set before the flight is looked at, so that a
    flight ending meanwhile sees it (``_flight_end``). Returns whether a task was queued."""
    token = uuid.uuid4().hex
    try:
        if follow_up:
            cache.set(_dirty_key(merchant_id), 1, FLIGHT_SECONDS)
        if not cache.add(_flight_key(merchant_id), token, FLIGHT_SECONDS):
            return False
    except Exception:  # the cache is down: queue anyway (the precompute skips answers already there)
        logger.warning("precompute flight of merchant %s unavailable", merchant_id, exc_info=True)
        token = None
    try:
        presets_precompute_task.delay(merchant_id, token)
    except Exception:
        _flight_release(merchant_id, token)
        raise
    return True


def _flight_release(merchant_id: int, token: str | None) -> None:
    """Delete the flight if it is still this one's (it may have expired and been taken by another)."""
    if token is None:
        return
    try:
        key = _flight_key(merchant_id)
        if cache.get(key) == token:
            cache.delete(key)
    except Exception:
        logger.warning("precompute flight of merchant %s unavailable", merchant_id, exc_info=True)


def _flight_end(merchant_id: int, token: str) -> None:
    """The run is over: release the flight, then, if a rollup write asked for a precompute since this run's
    snapshot (the dirty flag), queue exactly one more (a request racing with this one queues it instead)."""
    _flight_release(merchant_id, token)
    try:
        dirty = cache.delete(_dirty_key(merchant_id))
    except Exception:
        logger.warning("precompute flight of merchant %s unavailable", merchant_id, exc_info=True)
        return
    if dirty:
        presets_precompute_request(merchant_id, follow_up=False)


def _serialisation_failure(error: OperationalError) -> bool:
    return getattr(error.__cause__, "sqlstate", None) in {"40001", "40P01"}


@shared_task(
    bind=True,
    name="analytics.presets_precompute",
    queue="default",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=8,
    soft_time_limit=600,
    time_limit=660,
)
def presets_precompute_task(self, merchant_id: int, token: str | None = None) -> int:
    """The dashboard's standard answers for the rollups as they now are (``analytics.precompute``), queued by
    ``presets_precompute_request``. Single-flight: a task whose token is not the merchant's current flight (one
    queued by a flight that has expired, or before flights existed) does nothing. It clears the dirty flag before
    each snapshot it reads; a rollup write committed after that sets it again (its request), and the task queues
    one follow-up at its end. A rollup write committed during the computation makes the store fail: the task
    tries again from a fresh snapshot (``SNAPSHOT_TRIES``, never holding the rollup lock while computing), then
    fails and Celery retries it later (backoff), keeping the flight; it is released when the task ends for good.
    Idempotent: answers already there for the merchant's today are not recomputed. Returns the answers written."""
    try:
        if token is None:  # not queued through a flight: take one now, or leave it to the running one
            token = uuid.uuid4().hex
            if not cache.add(_flight_key(merchant_id), token, FLIGHT_SECONDS):
                cache.set(_dirty_key(merchant_id), 1, FLIGHT_SECONDS)
                return 0
        elif cache.get(_flight_key(merchant_id)) != token:
            return 0  # not (or no longer) the merchant's flight: another one is queued or running
        cache.set(_flight_key(merchant_id), token, FLIGHT_SECONDS)  # from now on, for this run
    except Exception:
        logger.warning("precompute flight of merchant %s unavailable", merchant_id, exc_info=True)
    try:
        for attempt in range(1, SNAPSHOT_TRIES + 1):
            try:
                cache.delete(_dirty_key(merchant_id))  # every write committed so far is in the next snapshot
            except Exception:
                logger.warning("precompute flight of merchant %s unavailable", merchant_id, exc_info=True)
            try:
                answers = presets_precompute(merchant_id=merchant_id).answers
                break
            except OperationalError as error:
                if attempt == SNAPSHOT_TRIES or not _serialisation_failure(error):
                    raise
                logger.info("presets of merchant %s: a rollup write committed meanwhile, again", merchant_id)
    except Exception as error:
        retried = isinstance(error, OperationalError) and self.request.retries < self.max_retries
        if not retried:
            _flight_release(merchant_id, token)
        raise
    _flight_end(merchant_id, token)
    return answers


@shared_task(name="analytics.presets_precompute_due", queue="default", ignore_result=True)
def presets_precompute_due_task() -> int:
    """Periodic (beat): the presets are relative to each merchant's today, so after its midnight (or when a
    precompute failed) the stored answers no longer match the requests. Queue one precompute per merchant with
    rollups whose answers are not for its today, unless one is queued or running for it already (its flight).
    Returns how many were queued."""
    from analytics.filters import merchant_today

    queued = 0
    merchant_ids = RollupState.objects.values_list("merchant_id", flat=True)
    for merchant in Merchant.objects.filter(pk__in=merchant_ids):
        if precomputed_day(merchant.pk) != merchant_today(merchant):
            queued += presets_precompute_request(merchant.pk, follow_up=False)
    return queued
