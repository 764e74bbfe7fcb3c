"""The per-process API-key cache (one query per key per ``API_KEY_CACHE_SECONDS``, dropped at once by the
services that revoke or change keys) and the sliding-window throttle (one Redis round trip), on any endpoint."""

from __future__ import annotations

import time
from types import SimpleNamespace
from unittest import mock

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from merchants import api_auth
from merchants.api_auth import ThrottleWindow
from merchants.models import ApiKey, MerchantStatus
from merchants.services import api_key_revoke, merchant_set_status

from .conftest import errors_of

pytestmark = pytest.mark.django_db

URL = "/api/v1/stores/"


@pytest.fixture
def clock():
    """``merchants.api_auth``'s wall clock, settable (the throttle's windows); monotonic time is left alone."""
    now = [1_800_000_000.0]  # a window start for 60-second windows
    with mock.patch.object(api_auth, "time", SimpleNamespace(time=lambda: now[0], monotonic=time.monotonic)):
        yield now


def test_a_key_is_read_once_then_from_the_process_cache(api_client):
    with CaptureQueriesContext(connection) as first:
        assert api_client.get(URL).status_code == 200  # reads the key (and records its use)
    with CaptureQueriesContext(connection) as second:
        assert api_client.get(URL).status_code == 200
    assert "merchants_apikey" in first.captured_queries[0]["sql"]
    assert len(second) == len(first) - 2  # neither the key's read nor its last-use write
    assert not any("merchants_apikey" in query["sql"] for query in second.captured_queries)


def test_a_revoked_key_and_a_suspended_merchant_are_refused_on_the_next_request(api_client, merchant):
    assert api_client.get(URL).status_code == 200  # cached
    merchant_set_status(merchant=merchant, status=MerchantStatus.SUSPENDED, actor=None)
    assert api_client.get(URL).status_code == 403
    merchant_set_status(merchant=merchant, status=MerchantStatus.ACTIVE, actor=None)
    assert api_client.get(URL).status_code == 200
    api_key_revoke(api_key=ApiKey.objects.get(pk=api_client.api_key.pk))
    response = api_client.get(URL)
    assert response.status_code == 401
    assert response.json()["errors"][0]["detail"] == "This API key has been revoked."


def test_a_key_is_revoked_even_while_the_cache_is_down(api_client):
    """Revoking a leaked key during a Redis incident must not fail (and roll back) with the generation bump."""
    import redis

    assert api_client.get(URL).status_code == 200  # cached in this process
    down = mock.patch.object(api_auth.default_cache, "incr", side_effect=redis.exceptions.ConnectionError("down"))
    with down:
        api_key_revoke(api_key=ApiKey.objects.get(pk=api_client.api_key.pk))
    assert ApiKey.objects.get(pk=api_client.api_key.pk).revoked_at is not None
    assert api_client.get(URL).status_code == 401  # this process dropped its cached keys


def test_an_evicted_generation_drops_the_cached_keys(api_client):
    from django.core.cache import cache

    api_client.get(URL)
    cache.delete(api_auth.KEYS_GENERATION_KEY)  # Redis lost it (flush, eviction): keys are re-read
    with CaptureQueriesContext(connection) as queries:
        assert api_client.get(URL).status_code == 200
    assert "merchants_apikey" in queries.captured_queries[0]["sql"]


def test_the_window_estimate_and_wait():
    window = ThrottleWindow.at(7, 10, 60, 1_800_000_045.0)  # 45 s into a 60 s window
    assert window.current.endswith(":7:10/60:30000000")
    assert window.previous.endswith(":7:10/60:29999999")
    assert window.elapsed == 45.0
    assert window.estimate(current=4, previous=8) == 6.0  # 8 × 15/60 + 4
    assert window.wait(current=11, previous=8, limit=10) == 15.0  # over the limit on its own: the window's end
    assert window.wait(current=8, previous=8, limit=10) == 0.0  # 2 + 8 ≤ 10: fits now
    assert window.wait(current=9, previous=8, limit=10) == 7.5  # once the previous 8 weigh 1
    assert window.wait(current=10, previous=8, limit=10) == 15.0  # once they weigh nothing


@override_settings(API_RATE_LIMIT="3/minute")
@pytest.mark.parametrize("counters", ["redis", "private cache"])
def test_the_throttle_slides_and_does_not_count_refused_requests(api_client, clock, counters, request):
    if counters == "private cache":
        request.getfixturevalue("throttle_cache")  # the cache-API path (any cache backend)
    clock[0] += 50  # the last 10 seconds of a window
    assert [api_client.get(URL).status_code for _ in range(3)] == [200, 200, 200]
    refused = api_client.get(URL)
    assert refused.status_code == 429
    assert refused["Retry-After"] == "10"  # this window's end
    assert errors_of(refused) == [("throttled", None)]

    # 20 s into the next window the previous 3 still weigh 2: one more request fits, not two
    clock[0] += 30
    assert api_client.get(URL).status_code == 200
    assert api_client.get(URL).status_code == 429
    # 45 s in they weigh 0.75: one more (refused requests were not counted)
    clock[0] += 25
    assert [api_client.get(URL).status_code for _ in range(2)] == [200, 429]
