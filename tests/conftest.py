"""Fixtures for the actors: merchants, their members by role, and API clients with keys.

The suite runs on PostgreSQL and Redis (``make test`` points DATABASE_URL/REDIS_URL at the local servers).
Outside CI a test whose service is down is skipped with the reason; in CI (``CI=true``) it fails.
"""

import os

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from merchants.models import ApiScope, Role
from merchants.services import api_key_create

from .factories import PASSWORD, MembershipFactory, MerchantFactory, StoreFactory, UserFactory

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _redis_database_per_xdist_worker() -> None:
    """Under pytest-xdist (``-n 2``), give each worker its own Redis database for the cache and the broker.

    Every test clears the cache, and the real-worker tests flush their broker database: on one shared database
    the workers would wipe each other's throttle counters, cached answers and queued tasks mid-test. Worker
    ``gwN`` uses database ``base + 1 + N`` (mod 16) of the same server. Settings are read lazily by the cache
    handler and the Celery app, so changing them here, before any test runs, is enough.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return
    from urllib.parse import urlsplit, urlunsplit

    from django.conf import settings

    def shifted(url: str) -> str:
        parts = urlsplit(url)
        base = int(parts.path.strip("/") or 0)
        return urlunsplit(parts._replace(path=f"/{(base + 1 + int(worker[2:])) % 16}"))

    for name in ("REDIS_URL", "CELERY_BROKER_URL"):  # inherited by the real-worker tests' Celery subprocesses
        if os.environ.get(name, "").startswith("redis://"):
            os.environ[name] = shifted(os.environ[name])
    if settings.CELERY_BROKER_URL.startswith("redis://"):
        settings.CELERY_BROKER_URL = shifted(settings.CELERY_BROKER_URL)
    location = settings.CACHES["default"].get("LOCATION", "")
    if isinstance(location, str) and location.startswith("redis://"):
        settings.CACHES = {**settings.CACHES, "default": {**settings.CACHES["default"], "LOCATION": shifted(location)}}


_redis_database_per_xdist_worker()


def require_service(available: bool, reason: str) -> None:
    """Fail in CI, skip with a visible reason elsewhere."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"required service unavailable in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Real hashing (PBKDF2) costs ~0.3 s per user; tests create hundreds of users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _clear_cache():
    # Throttle counters and cached answers live in the (shared Redis) cache: isolate tests.
    cache.clear()
    return


@pytest.fixture
def merchant(db):
    return MerchantFactory(name="Maison Alpha", slug="alpha")


@pytest.fixture
def other_merchant(db):
    return MerchantFactory(name="Beta Goods", slug="beta")


def _member_client(client_class, merchant, role, **kwargs):
    membership = MembershipFactory(merchant=merchant, role=role, user=UserFactory(email=f"{role}@{merchant.slug}.test"))
    client = client_class()
    client.force_login(membership.user)
    client.user = membership.user
    client.membership = membership
    return client


@pytest.fixture
def owner_client(merchant, client_class=None):
    from django.test import Client

    return _member_client(Client, merchant, Role.OWNER)


@pytest.fixture
def admin_member_client(merchant):
    from django.test import Client

    return _member_client(Client, merchant, Role.ADMIN)


@pytest.fixture
def analyst_client(merchant):
    from django.test import Client

    return _member_client(Client, merchant, Role.ANALYST)


@pytest.fixture
def store_manager_client(merchant):
    from django.test import Client

    client = _member_client(Client, merchant, Role.STORE_MANAGER)
    store = StoreFactory(merchant=merchant, code="MGR1", name="Managed store")
    client.membership.stores.add(store)
    client.managed_store = store
    return client


@pytest.fixture
def other_owner_client(other_merchant):
    from django.test import Client

    return _member_client(Client, other_merchant, Role.OWNER)


def _api_client(merchant, scopes):
    api_key, raw = api_key_create(merchant=merchant, name="test key", scopes=scopes)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    client.api_key = api_key
    client.raw_key = raw
    return client


@pytest.fixture
def api_client(merchant):
    """A key of ``merchant`` with every scope."""
    return _api_client(merchant, ApiScope.values)


@pytest.fixture
def other_api_client(other_merchant):
    return _api_client(other_merchant, ApiScope.values)


@pytest.fixture
def make_api_client():
    return _api_client


@pytest.fixture
def password():
    return PASSWORD
