"""Where the expensive selector reads (distinct customers, long-range top products) are looked up before they are
computed: the result cache (Redis) and the precomputed answers (``analytics.precompute``, in the database).

Cache entries are keyed by the merchant's *rollups version*, a random token kept in the cache and replaced by
every refresh or rebuild that writes (``rollups_version_bump``): a new version makes every older entry
unreachable, so a cached figure is always one the current rollups would give. The token is replaced twice — when
the rewrite starts and again once it commits — so an answer computed from the old rows in between is never
reused. Keys also carry the database name (test databases of parallel workers share one Redis). Any cache error
falls back to computing: the cache only ever saves time.

Precomputed answers (``PrecomputedAnswer``) are rows under the same name and digest. The first
``rollups_version_bump`` of a rollup write runs inside the writer's transaction and deletes the merchant's rows
there, so readers see either the old rollups with the answers computed from them or the new rollups with none
(then the live query); the precompute stores answers only if no rollup write committed since the snapshot it
read (``analytics.precompute.presets_precompute``): never stale.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import uuid
from collections.abc import Callable, Iterable
from typing import TypeVar

from django.core.cache import cache
from django.db import connection
from django.utils import timezone

logger = logging.getLogger(__name__)

T = TypeVar("T")
TIMEOUT_SECONDS = 6 * 3600
PRECOMPUTED_TABLE = "analytics_precomputedanswer"


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
    """The merchant's rollups are being (or have been) rewritten: no cached or precomputed answer from before
    is read again. Call it inside the writing transaction (the precomputed rows go with it) and on commit."""
    precomputed_invalidate(merchant_id)
    try:
        cache.set(_version_key(merchant_id), uuid.uuid4().hex, None)
    except Exception:  # the cache is down: entries cannot be read either
        logger.warning("could not bump the analytics cache version of merchant %s", merchant_id, exc_info=True)


def answer_digest(arguments: tuple) -> str:
    return hashlib.sha256(repr(arguments).encode()).hexdigest()[:32]


def cached(merchant_id: int, name: str, arguments: tuple, compute: Callable[[], T], *, precomputed: bool = False) -> T:
    """``compute()``, or its answer for the same ``name`` and ``arguments`` under the current rollups: from the
    cache, else (``precomputed``: the caller's filters may be a precomputed one) from the precomputed answers."""
    digest = answer_digest(arguments)
    try:
        version = rollups_version(merchant_id)
        key = f"analytics:{connection.settings_dict['NAME']}:{merchant_id}:{version}:{name}:{digest}"
        found = cache.get(key)
    except Exception:
        logger.warning("analytics cache unavailable", exc_info=True)
        key, found = None, None
    if found is not None:
        return found
    value = precomputed_get(merchant_id, name, digest) if precomputed else None
    if value is not None:
        return value  # one indexed row: as cheap as the cache, nothing to copy there
    value = compute()
    if key is not None:
        try:
            cache.set(key, value, TIMEOUT_SECONDS)
        except Exception:
            logger.warning("analytics cache unavailable", exc_info=True)
    return value


def precomputed_get(merchant_id: int, name: str, digest: str):
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT value FROM {PRECOMPUTED_TABLE} WHERE merchant_id = %s AND name = %s AND digest = %s",  # noqa: S608
            [merchant_id, name, digest],
        )
        row = cursor.fetchone()
    # Rows are written only by ``precomputed_store`` (this project's own pickles), like the cache's values.
    return pickle.loads(bytes(row[0])) if row else None  # noqa: S301


def precomputed_store(merchant_id: int, answers: Iterable[tuple[str, tuple, object]]) -> int:
    """Replace the merchant's precomputed answers by ``answers`` ((name, arguments, value) triples), in the
    transaction that read the rows they come from, holding the rollups lock (``analytics.precompute``)."""
    now = timezone.now()
    rows = [
        (merchant_id, name, answer_digest(arguments), pickle.dumps(value, pickle.HIGHEST_PROTOCOL), now)
        for name, arguments, value in answers
    ]
    precomputed_invalidate(merchant_id)
    with connection.cursor() as cursor:
        cursor.executemany(
            # On conflict (a concurrent precompute stored first, from an equally current snapshot): either answer
            # is right; under REPEATABLE READ the update raises a serialisation failure instead.
            f"INSERT INTO {PRECOMPUTED_TABLE} (merchant_id, name, digest, value, computed_at) "  # noqa: S608
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (merchant_id, name, digest) "
            "DO UPDATE SET value = EXCLUDED.value, computed_at = EXCLUDED.computed_at",
            rows,
        )
    return len(rows)


def precomputed_invalidate(merchant_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {PRECOMPUTED_TABLE} WHERE merchant_id = %s", [merchant_id])  # noqa: S608
