"""django-axes hooks: count sign-in failures per lower-cased e-mail address."""

from __future__ import annotations


def axes_username(request, credentials: dict | None) -> str:
    """The address axes locks: lower-cased, so ``Bob@x`` and ``bob@x`` share one failure counter
    (sign-in itself is case-insensitive, so they are the same account)."""
    value = (credentials or {}).get("username")
    if not value and request is not None:
        value = getattr(request, "POST", {}).get("username")
    return (value or "").strip().lower()
