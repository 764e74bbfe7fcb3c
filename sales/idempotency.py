"""``Idempotency-Key`` for API writes: the first answer is stored and replayed, never computed twice.

How it holds under concurrency: the answer is computed inside one transaction that starts by inserting the
key's :class:`~sales.models.IdempotencyRecord` (a placeholder, unique per merchant and key) and ends by storing
the answer in it. A second request with the same key blocks on that unique index until the first commits, then
finds the record and replays its answer; if the first failed (rolled back), the second goes ahead as if alone.
A request that would wait longer than :data:`WAIT_SECONDS` answers 409 instead.

Only answers that were computed are stored (200 with per-order results); a request refused before any work
(malformed body, 400) is not, so the client may fix it and send it again with the same key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import orjson
from django.db import IntegrityError, OperationalError, connection, transaction
from rest_framework import exceptions, status

from merchants.models import Merchant
from sales.models import IdempotencyRecord

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_MAX_LENGTH = 255
WAIT_SECONDS = 30.0  # how long a request waits for a concurrent one with the same key before answering 409


class IdempotencyKeyReused(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "idempotency_key_reused"
    default_detail = (
        "This Idempotency-Key was already used for a different request (another body or endpoint). "
        "Use a new key for a new request; resend the exact same body to get the first answer again."
    )


class IdempotencyKeyInProgress(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "idempotency_key_in_progress"
    default_detail = (
        "Another request with this Idempotency-Key is still being processed. Retry in a moment: you will get "
        "its answer."
    )


def idempotency_key(request) -> str | None:
    """The request's key, or None. A key that is blank, too long or not printable ASCII answers 400."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > KEY_MAX_LENGTH or not key.isascii() or not key.isprintable():
        raise exceptions.ValidationError(
            {
                HEADER: [
                    exceptions.ErrorDetail(
                        f"An {HEADER} is 1–{KEY_MAX_LENGTH} printable ASCII characters, e.g. a UUID.",
                        code="invalid",
                    )
                ]
            }
        )
    return key


def request_fingerprint(method: str, path: str, body: object) -> str:
    """SHA-256 of the request: method, path and the parsed body in canonical form (key order and whitespace
    don't matter, so a client that re-serialises the same data still matches)."""
    digest = hashlib.sha256(f"{method} {path}\n".encode())
    digest.update(orjson.dumps(body, option=orjson.OPT_SORT_KEYS))
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    status_code: int
    body: dict
    replayed: bool


def _replay(record: IdempotencyRecord, fingerprint: str) -> StoredAnswer:
    if record.request_hash != fingerprint:
        raise IdempotencyKeyReused()
    return StoredAnswer(record.status_code, record.response, replayed=True)


@contextmanager
def _lock_timeout(seconds: float):
    # Bounds the wait on a concurrent insert of the same key (PostgreSQL); SQLite serialises writers anyway.
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{int(seconds * 1000)}ms"])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('lock_timeout', '0', true)")


def idempotent_answer(
    *, merchant: Merchant, key: str, fingerprint: str, compute: Callable[[], tuple[int, dict]]
) -> StoredAnswer:
    """Answer a request with an ``Idempotency-Key``: replay the stored answer, or compute and store it once.

    ``compute`` runs inside the transaction that holds the key; it returns ``(status_code, body)``.
    """
    existing = IdempotencyRecord.objects.for_merchant(merchant).filter(key=key).first()
    if existing is not None:
        return _replay(existing, fingerprint)
    with transaction.atomic():
        try:
            # The savepoint is inside the timeout so it is rolled back before the timeout is reset.
            with _lock_timeout(WAIT_SECONDS), transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    merchant=merchant, key=key, request_hash=fingerprint, status_code=0, response={}
                )
        except IntegrityError:
            record = None  # a concurrent request with this key committed first: replay its answer below
        except OperationalError as exc:
            if getattr(getattr(exc, "__cause__", None), "sqlstate", None) == "55P03":  # lock_not_available
                raise IdempotencyKeyInProgress() from None
            raise
        if record is not None:
            status_code, body = compute()
            record.status_code, record.response = status_code, body
            record.save(update_fields=["status_code", "response"])
            return StoredAnswer(status_code, body, replayed=False)
    return _replay(IdempotencyRecord.objects.for_merchant(merchant).get(key=key), fingerprint)
