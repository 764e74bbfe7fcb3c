"""API-key authentication, scope permission, per-key throttling and the tenant mixin of the partner API.

A request carries ``Authorization: Bearer <key>``. The key resolves to exactly one merchant; views declare
the scopes they need in ``required_scopes`` (by action for viewsets, by HTTP method for APIViews) and scope
their querysets through ``self.tenant`` like the browser views do.

Answers, all in the one error format of ``config.api``:
- no ``Authorization`` header, another scheme, a malformed header, an unknown or revoked key: 401 with
  ``WWW-Authenticate: Bearer realm="api"``;
- a key whose merchant is suspended: 403 (the key is genuine, the account is disabled: retrying with another
  key of the same merchant won't help);
- a key without the scope an operation needs: 403 naming the missing scope(s);
- more than ``API_RATE_LIMIT`` requests per key: 429 with ``Retry-After``.

Per-request cost (the partner API is on shops' hot paths):
- **Key cache**: a key is read from PostgreSQL (with its merchant) once, then kept in this process for at most
  ``API_KEY_CACHE_SECONDS``, and only while the Redis *key generation* is the one it was read under. Every write
  that can refuse or change a key goes through a service that calls ``api_keys_cache_invalidate()`` (revoking
  a key, suspending or reactivating or editing a merchant): it bumps the generation, so every process drops its
  cached keys on its next request — a revoked key is refused on the very next request. A write that bypasses
  the services (raw SQL, ``QuerySet.update``) is seen within ``API_KEY_CACHE_SECONDS``.
- **Throttle**: a sliding-window counter (this window's count plus the previous window's, weighted by how much of
  it still overlaps), one Redis round trip (``INCR``, ``EXPIRE``, ``GET`` in one pipeline) instead of DRF's
  read-modify-write of a list of timestamps. A refused request is not counted.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache as default_cache
from django.db import transaction
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission
from rest_framework.throttling import BaseThrottle

from .models import ApiKey, Role
from .tenancy import Tenant

logger = logging.getLogger(__name__)

LAST_USED_RESOLUTION = timedelta(minutes=1)  # don't write the key row on every request
BEARER_HINT = "Send the key as `Authorization: Bearer <key>`."
API_KEY_CACHE_SECONDS = 30  # bound for writes that bypass the services (see the module docstring)
API_KEY_CACHE_MAX = 10_000  # keys kept per process; the whole cache is dropped when it is full
KEYS_GENERATION_KEY = "api:keys:generation"


def hash_api_key(raw_key: str) -> str:
    # Keys are 256-bit random tokens, so a fast hash is enough (no password stretching needed).
    return hashlib.sha256(raw_key.encode()).hexdigest()


# --- Redis, one client per process -------------------------------------------------------------

_redis_lock = threading.Lock()
_redis_clients: dict[str, object] = {}


def redis_client():
    """A ``redis.Redis`` on the default cache's server, one per process (thread-safe, its own connection pool),
    or None when the default cache is not Redis. Django's Redis backend builds a client object on every call,
    which costs more than the round trip on a hot path; keys written here go through ``cache.make_key`` so both
    see the same entries."""
    config = settings.CACHES["default"]
    if config["BACKEND"] != "django.core.cache.backends.redis.RedisCache":
        return None
    location = config["LOCATION"]
    location = location[0] if isinstance(location, list | tuple) else location
    client = _redis_clients.get(location)
    if client is None:
        import redis

        with _redis_lock:
            client = _redis_clients.setdefault(location, redis.Redis.from_url(location))
    return client


# --- the key cache ------------------------------------------------------------------------------


@dataclass
class CachedKey:
    api_key: ApiKey  # with its merchant
    scopes: frozenset[str]
    generation: int
    loaded_at: float  # time.monotonic()


_key_cache: dict[str, CachedKey] = {}


def keys_generation() -> int:
    """The current key generation (created if missing)."""
    raw = default_cache.get(KEYS_GENERATION_KEY)
    if raw is None:
        # Lost or never set: a fresh value from the clock differs from every generation in use.
        default_cache.add(KEYS_GENERATION_KEY, int(time.time() * 1000), timeout=None)
        raw = default_cache.get(KEYS_GENERATION_KEY)
    return int(raw)


def api_keys_cache_invalidate() -> None:
    """Make every process drop its cached API keys (call on any write that refuses or changes a key or its
    merchant). Done now and again after the commit, so a request that re-read the key between the two can't keep
    the old row."""

    def bump() -> None:
        _key_cache.clear()
        try:
            try:
                default_cache.incr(KEYS_GENERATION_KEY)
            except ValueError:
                default_cache.set(KEYS_GENERATION_KEY, int(time.time() * 1000), timeout=None)
        except Exception:  # noqa: BLE001 - Redis down: the revocation itself must not fail with it
            # Other processes then keep the key at most API_KEY_CACHE_SECONDS (the fast path needs Redis anyway).
            logger.warning("API key generation not bumped (cache unavailable)", exc_info=True)

    bump()
    transaction.on_commit(bump)


def api_keys_cache_clear() -> None:
    """Drop this process's cached keys (what ``API_KEY_CACHE_SECONDS`` does by itself)."""
    _key_cache.clear()


def cached_key_get(key_hash: str, generation: int) -> CachedKey | None:
    entry = _key_cache.get(key_hash)
    if entry is None:
        return None
    if entry.generation != generation or time.monotonic() - entry.loaded_at > API_KEY_CACHE_SECONDS:
        _key_cache.pop(key_hash, None)
        return None
    return entry


def cached_key_peek(key_hash: str) -> CachedKey | None:
    """The cached key if it is younger than ``API_KEY_CACHE_SECONDS``; the caller checks its ``generation``."""
    entry = _key_cache.get(key_hash)
    if entry is None or time.monotonic() - entry.loaded_at > API_KEY_CACHE_SECONDS:
        return None
    return entry


def _key_load(key_hash: str, generation: int) -> ApiKey | None:
    api_key = ApiKey.objects.select_related("merchant").filter(key_hash=key_hash).first()
    if api_key is not None:
        if len(_key_cache) >= API_KEY_CACHE_MAX:
            _key_cache.clear()
        _key_cache[key_hash] = CachedKey(api_key, frozenset(api_key.scopes), generation, time.monotonic())
    return api_key


def api_key_touch(api_key: ApiKey) -> None:
    """Record the key's last use, at most once a minute (per process: the cached row remembers the write)."""
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now


def api_key_needs_touch(api_key: ApiKey) -> bool:
    return api_key.last_used_at is None or timezone.now() - api_key.last_used_at > LAST_USED_RESOLUTION


# --- authentication ----------------------------------------------------------------------------


class ApiKeyPrincipal:
    """Stands in for ``request.user`` on API requests: the key is the actor.

    Services receive it as ``actor``; ``merchants.services.audit_record`` records its ``api_key``.
    """

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_superuser = False
    is_active = True

    def __init__(self, api_key: ApiKey):
        self.api_key = api_key
        self.pk = None

    def __str__(self) -> str:
        return f"API key {self.api_key.prefix}"


class MerchantSuspendedError(exceptions.PermissionDenied):
    default_detail = "This merchant is suspended, so its API keys are disabled."


def api_key_check(api_key: ApiKey | None) -> ApiKey:
    """Raise the answer for a key that can't be used (unknown, revoked, merchant suspended)."""
    if api_key is None:
        raise exceptions.AuthenticationFailed("Unknown API key.")
    if not api_key.is_active:
        raise exceptions.AuthenticationFailed("This API key has been revoked.")
    merchant = api_key.merchant
    if not merchant.is_active:
        raise MerchantSuspendedError(
            f"{merchant.name} ({merchant.slug}) is suspended, so its API keys are disabled. "
            "Contact NewRetail support to reactivate it."
        )
    return api_key


class ApiKeyAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request):
        header = get_authorization_header(request)
        if not header:
            return None  # the permission check answers 401 "credentials were not provided"
        parts = header.split()
        if parts[0].lower() != self.keyword:
            raise exceptions.AuthenticationFailed(f"Unsupported authorization scheme. {BEARER_HINT}")
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(f"Malformed authorization header. {BEARER_HINT}")
        try:
            raw_key = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Unknown API key.") from None
        key_hash = hash_api_key(raw_key)
        generation = keys_generation()  # read before the row: a bump in between makes this entry stale
        entry = cached_key_get(key_hash, generation)
        api_key = api_key_check(entry.api_key if entry is not None else _key_load(key_hash, generation))
        api_key_touch(api_key)
        return ApiKeyPrincipal(api_key), api_key

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "A merchant API key, sent as `Authorization: Bearer <key>`. Owners and admins create keys in the "
                "portal (Settings → API keys) or staff with `manage.py create_api_key`; each key carries scopes."
            ),
        }


def required_scopes_for(view, request) -> set[str]:
    """The scopes the current operation needs. An operation nobody declared scopes for is refused."""
    if request.method == "OPTIONS" or getattr(view, request.method.lower(), None) is None:
        # The view answers 405 (a method it doesn't have; OPTIONS without metadata): nothing to protect,
        # and the client learns the method is wrong rather than that its key lacks a scope.
        return set()
    spec = getattr(view, "required_scopes", None)
    if spec is None:
        raise exceptions.PermissionDenied("This operation is not available to API keys.")
    if isinstance(spec, dict):
        method = "GET" if request.method == "HEAD" else request.method
        key = getattr(view, "action", None) or method
        if key not in spec and method in spec:
            key = method
        if key not in spec:
            # Fail closed: an action nobody declared a scope for is refused.
            raise exceptions.PermissionDenied("This operation is not available to API keys.")
        return set(spec[key])
    return set(spec)


class HasApiKeyScope(BasePermission):
    message = "This API key lacks the scope this operation needs."

    def has_permission(self, request, view) -> bool:
        api_key = request.auth
        if not isinstance(api_key, ApiKey):
            return False
        missing = required_scopes_for(view, request) - set(api_key.scopes)
        if missing:
            self.message = f"This API key lacks the scope(s): {', '.join(sorted(missing))}."
            return False
        return True


# --- throttle ----------------------------------------------------------------------------------

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_rates: dict[str, tuple[int, int]] = {}


def parse_rate(rate: str) -> tuple[int, int]:
    """``"600/minute"`` → (600, 60), as DRF reads it."""
    parsed = _rates.get(rate)
    if parsed is None:
        number, period = rate.split("/")
        parsed = _rates[rate] = (int(number), _PERIODS[period[0]])
    return parsed


@dataclass(frozen=True)
class ThrottleWindow:
    """The counter keys (cache keys, before ``make_key``) of one key's current and previous windows, and where
    ``now`` falls in the current one."""

    current: str
    previous: str
    elapsed: float  # seconds since the current window started
    duration: int

    @classmethod
    def at(cls, ident, limit: int, duration: int, now: float) -> ThrottleWindow:
        index = int(now // duration)
        prefix = f"throttle:api_key:{ident}:{limit}/{duration}:"  # a new rate starts from fresh counters
        return cls(f"{prefix}{index}", f"{prefix}{index - 1}", now - index * duration, duration)

    def estimate(self, current: int, previous: int) -> float:
        """Requests in the sliding window ending now: the previous window's count weighted by its overlap."""
        return previous * (1 - self.elapsed / self.duration) + current

    def wait(self, current: int, previous: int, limit: int) -> float:
        """Seconds until ``current`` requests (this one included) fit under ``limit`` (the previous window's
        weight falls linearly; past the window's end, approximately)."""
        if current > limit or previous == 0:
            return self.duration - self.elapsed
        return max(0.0, self.duration * (1 - (limit - current) / previous) - self.elapsed)


def throttle_pipeline(pipe, window: ThrottleWindow, make_key) -> None:
    """Queue the throttle's commands on a Redis pipeline; its results are (this window's count with this request,
    True, the previous window's count or None)."""
    current = make_key(window.current)
    pipe.incr(current)
    pipe.expire(current, 2 * window.duration + 1)
    pipe.get(make_key(window.previous))


def throttle_allows(window: ThrottleWindow, current: int, previous: int | None, limit: int) -> bool:
    return window.estimate(current, int(previous or 0)) <= limit


class ApiKeyRateThrottle(BaseThrottle):
    """Per-key request rate (``API_RATE_LIMIT``, e.g. ``600/minute``); answers 429 with ``Retry-After``.

    The rate is read from settings on every request (not frozen at import like DRF's default), so it can be
    changed per environment and in tests with ``override_settings(API_RATE_LIMIT=...)``. A request already
    counted by a fast path (``request.throttle_counts``: current, previous) is not counted twice.
    """

    cache = default_cache

    def __init__(self):
        self.num_requests, self.duration = parse_rate(settings.API_RATE_LIMIT)
        self._wait = None

    def allow_request(self, request, view) -> bool:
        api_key = request.auth
        ident = api_key.pk if isinstance(api_key, ApiKey) else f"ip:{self.get_ident(request)}"
        store = self.cache
        window = ThrottleWindow.at(ident, self.num_requests, self.duration, time.time())
        client = redis_client() if store is default_cache else None
        counted = getattr(request, "throttle_counts", None)
        if counted is not None:
            current, previous = counted
        elif client is not None:
            pipe = client.pipeline(transaction=False)
            throttle_pipeline(pipe, window, store.make_key)
            current, _, previous = pipe.execute()
        else:  # another cache (the tests' private one, no Redis): the same counters through the cache API
            store.add(window.current, 0, timeout=2 * self.duration + 1)
            current, previous = store.incr(window.current), store.get(window.previous)
        if throttle_allows(window, current, previous, self.num_requests):
            return True
        # A refused request is not counted (as with DRF's throttle): a client that backs off gets through again.
        if client is not None:
            client.decr(store.make_key(window.current))
        else:
            store.decr(window.current)
        self._wait = window.wait(current, int(previous or 0), self.num_requests)
        return False

    def wait(self):
        return max(1, math.ceil(self._wait)) if self._wait is not None else None


class TenantAPIMixin:
    """Base of every partner API view: ``self.tenant`` is the key's merchant, with full store access.

    ``get_queryset`` reads through ``self.tenant.scope(...)``; during schema generation (no request key)
    views return ``Model.objects.none()`` instead (see ``swagger_fake_view``).
    OPTIONS answers 405: the OpenAPI schema at ``/api/schema/`` describes every operation.
    """

    metadata_class = None
    # Without "options": OPTIONS answers 405 and is not listed in the Allow header.
    http_method_names = ["get", "post", "put", "patch", "delete", "head"]

    @property
    def api_key(self) -> ApiKey:
        return self.request.auth

    @property
    def tenant(self) -> Tenant:
        return Tenant(merchant=self.api_key.merchant, role=Role.ADMIN)

    @property
    def merchant(self):
        return self.api_key.merchant
