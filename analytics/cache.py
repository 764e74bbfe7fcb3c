"""A result cache for the expensive selector reads (distinct customers, long-range top products).

Entries are keyed by the merchant's *rollups version*, a random token kept in the cache and replaced by every
refresh or rebuild that writes (``rollups_version_bump``): a new version makes every older entry unreachable, so
a cached figure is always one the current rollups would give. The token is replaced twice — when the rewrite
starts and again once it commits — so an answer computed from the old rows in between is never reused. Keys also
carry the database name (test databases of parallel workers share one Redis). Any cache error falls back to
computing: the cache only ever saves time.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable
from typing import TypeVar

from django.core.cache import cache
from django.db import connection

logger = logging.getLogger(__name__)

T = TypeVar("T")
TIMEOUT_SECONDS = 6 * 3600


def _version_key(merchant_id: int) -> str:
    return f"analytics:{connection.settings_dict['NAME']}:version:{merchant_id}"


def rollups_version(merchant_id: int) -> str:
    key = _version_key(merchant_id)
    version = cache.get(key)
    if version is None:
        version = uuid.uuid4().hex
        if not cache.add(key, version, None):
            version = cache.get(key) or version
    return version


def rollups_version_bump(merchant_id: int) -> None:
    try:
        cache.set(_version_key(merchant_id), uuid.uuid4().hex, None)
    except Exception:  # the cache is down: entries cannot be read either
        logger.warning("could not bump the analytics cache version of merchant %s", merchant_id, exc_info=True)


def cached(merchant_id: int, name: str, arguments: tuple, compute: Callable[[], T]) -> T:
    """``compute()``, or its answer for the same ``name`` and ``arguments`` under the current rollups."""
    try:
        digest = hashlib.sha256(repr(arguments).encode()).hexdigest()[:32]
        version = rollups_version(merchant_id)
        key = f"analytics:{connection.settings_dict['NAME']}:{merchant_id}:{version}:{name}:{digest}"
        found = cache.get(key)
    except Exception:
        logger.warning("analytics cache unavailable", exc_info=True)
        return compute()
    if found is not None:
        return found
    value = compute()
    try:
        cache.set(key, value, TIMEOUT_SECONDS)
    except Exception:
        logger.warning("analytics cache unavailable", exc_info=True)
    return value
