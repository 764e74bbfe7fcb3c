"""Helpers for the partner API tests."""

import pytest
from django.utils import timezone


@pytest.fixture
def fresh_key(api_client):
    """``api_client`` whose key was just used, so a request doesn't also write ``last_used_at``: query counts
    then measure the endpoint alone. The key is read on every request (no in-process key cache), so every
    request's count includes the key's query, first or not."""
    from unittest import mock

    from merchants import api_auth

    api_client.api_key.last_used_at = timezone.now()
    api_client.api_key.save(update_fields=["last_used_at"])
    with mock.patch.object(api_auth, "API_KEY_CACHE_SECONDS", 0):
        yield api_client


def errors_of(response) -> list[tuple[str, str | None]]:
    """The (code, attr) pairs of an error body, after checking it has the documented shape."""
    body = response.json()
    assert set(body) == {"type", "errors"}, body
    for error in body["errors"]:
        assert set(error) == {"code", "detail", "attr"}, error
    return [(error["code"], error["attr"]) for error in body["errors"]]


@pytest.fixture
def throttle_cache():
    """The throttle's counters in a private cache: the shared test Redis is cleared by every test (and by other
    xdist workers, whose key ids collide with ours), which would reset the counters mid-test."""
    from unittest import mock

    from django.core.cache.backends.locmem import LocMemCache

    from merchants.api_auth import ApiKeyRateThrottle

    private = LocMemCache("api-throttle-tests", {})
    with mock.patch.object(ApiKeyRateThrottle, "cache", private):
        yield private
