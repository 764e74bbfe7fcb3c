"""Audit rows for writes made either by a signed-in user or by a partner's API key."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from merchants.models import AuditEvent, Merchant
from merchants.services import audit_record

from .csv_import import ImportResult


def audit(
    *,
    action: str,
    merchant: Merchant,
    actor: Any,
    target: str = "",
    request: HttpRequest | None = None,
    data: dict | None = None,
) -> AuditEvent:
    """``actor`` is a user or the API's key principal (``merchants.api_auth.ApiKeyPrincipal``, which carries
    ``api_key``); the audit row records whichever it is."""
    return audit_record(
        action=action,
        merchant=merchant,
        actor=actor,
        api_key=getattr(actor, "api_key", None),
        target=target,
        request=request,
        data=data,
    )


def audit_import(
    result: ImportResult,
    *,
    action: str,
    merchant: Merchant,
    actor: Any,
    request: HttpRequest | None = None,
    data: dict | None = None,
) -> AuditEvent | None:
    """The audit row of a CSV import that wrote (``result.applied``; None otherwise): the file name as target,
    ``data`` (if any) followed by the import's mode and counts."""
    if not result.applied:
        return None
    return audit(
        action=action,
        merchant=merchant,
        actor=actor,
        target=result.file_name,
        request=request,
        data={**(data or {}), **result.audit_data()},
    )
