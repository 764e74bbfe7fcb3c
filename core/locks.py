"""Session-level PostgreSQL advisory locks that keep one worker on one job (import, report, recommendations).

A redelivered task (``acks_late``) may reach a second worker while the first still runs the job: the job runner
takes ``job_lock_try(LOCK_CLASS, job_id)`` and skips the delivery when another session holds it. The lock is
the session's, not the transaction's, so it spans the several transactions a job commits; PostgreSQL releases
it when the holder's connection dies (a killed worker). Each app has its own ``LOCK_CLASS`` (the first key).
Other databases (the SQLite development default, one worker) take no lock.
"""

from __future__ import annotations

from django.db import connection


def job_lock_try(lock_class: int, job_id: int) -> bool:
    """Take the job's lock without waiting; False when another session holds it."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [lock_class, job_id])
        return bool(cursor.fetchone()[0])


def job_lock_release(lock_class: int, job_id: int) -> None:
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [lock_class, job_id])
