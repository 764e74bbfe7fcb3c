"""Every write to stores: create, update, close/reopen and the CSV import. A store is never deleted.

All functions raise ``django.core.exceptions.ValidationError`` (a dict keyed by field name) for bad input,
after normalising it with ``stores.validation`` (codes upper-cased, country/time zone/hours canonical).
``actor`` is a user or the API's key principal; either way the audit row records it.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django_countries.fields import Country

from core.audit import audit, audit_import
from core.csv_import import ImportMode, ImportResult, ParsedRow, RowError, WriteCounts, run_import
from merchants.models import AuditAction, Merchant

from .imports import STORE_CSV_SPEC
from .models import Store, StoreStatus
from .validation import (
    normalize_country,
    normalize_opening_hours,
    normalize_store_code,
    normalize_timezone,
    parse_coordinate,
    validate_store_code,
)

# Fields a caller may set. ``status``/``closed_on`` are accepted so that an API or import can record a store
# that is already closed; closing an open store is better done with ``store_close``.
STORE_FIELDS = frozenset(
    {
        "code",
        "name",
        "address_line1",
        "address_line2",
        "city",
        "region",
        "postal_code",
        "country",
        "latitude",
        "longitude",
        "timezone",
        "opening_hours",
        "opened_on",
        "status",
        "closed_on",
    }
)
_TEXT_FIELDS = ("name", "address_line1", "address_line2", "city", "region", "postal_code")
IMPORT_LOOKUP_CHUNK = 5_000


def store_local_today(store_timezone: str) -> date:
    return timezone.localdate(timezone=zoneinfo.ZoneInfo(store_timezone))


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal | date):
        return str(value)
    if isinstance(value, Country):
        return value.code
    return value


def _normalise(fields: dict[str, Any]) -> dict[str, Any]:
    """Canonical values for the given fields; ValidationError naming each bad field."""
    unknown = set(fields) - STORE_FIELDS
    if unknown:
        raise TypeError(f"Unknown store field(s): {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}

    def attempt(name, function, *args, **kwargs):
        try:
            values[name] = function(*args, **kwargs)
        except ValidationError as exc:
            errors[name] = exc.messages

    for name, value in fields.items():
        if name == "code":
            code = normalize_store_code(value)
            attempt(name, lambda c: (validate_store_code(c), c)[1], code)
        elif name == "country":
            attempt(name, normalize_country, str(getattr(value, "code", value) or ""))
        elif name == "timezone":
            attempt(name, normalize_timezone, value or "")
        elif name == "opening_hours":
            attempt(name, normalize_opening_hours, value)
        elif name in ("latitude", "longitude"):
            if value in (None, ""):
                values[name] = None
            else:
                attempt(name, parse_coordinate, value, kind=name)
        elif name in _TEXT_FIELDS:
            values[name] = (value or "").strip()
        else:
            values[name] = value
    if errors:
        raise ValidationError(errors)
    return values


def _apply_status(store: Store, values: dict[str, Any]) -> None:
    """Status and closing day move together: closed ⇒ a closing day (today by default), active ⇒ none."""
    status = values.get("status") or store.status
    closed_on = values.get("closed_on", store.closed_on if status == StoreStatus.CLOSED else None)
    if status == StoreStatus.CLOSED:
        closed_on = closed_on or store.closed_on or store_local_today(store.timezone)
    elif values.get("closed_on"):
        raise ValidationError({"closed_on": "Only a closed store has a closing date."})
    else:
        closed_on = None
    store.status, store.closed_on = status, closed_on


def _validate(store: Store) -> None:
    errors: dict[str, list[str]] = {}
    try:
        # Constraints are checked below or enforced by the database; the merchant was resolved by the caller.
        store.full_clean(exclude=["merchant"], validate_constraints=False)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if (store.latitude is None) != (store.longitude is None):
        errors.setdefault("longitude" if store.longitude is None else "latitude", []).append(
            "Give both latitude and longitude, or neither."
        )
    if store.closed_on:
        if store.opened_on and store.closed_on < store.opened_on:
            errors.setdefault("closed_on", []).append("The store cannot close before it opened.")
        if store.closed_on > store_local_today(store.timezone):
            errors.setdefault("closed_on", []).append("The closing date cannot be in the future.")
    if "code" not in errors:
        clash = Store.objects.for_merchant(store.merchant_id).filter(code=store.code).exclude(pk=store.pk).first()
        if clash is not None:
            errors.setdefault("code", []).append(f"The code {store.code} is already used by {clash.name}.")
    if errors:
        raise ValidationError(errors)


def _save(store: Store, **kwargs) -> None:
    try:
        with transaction.atomic():
            store.save(**kwargs)
    except IntegrityError as exc:  # a concurrent write took the code between the check and the save
        raise ValidationError({"code": f"The code {store.code} is already used by another store."}) from exc


@transaction.atomic
def store_create(*, merchant: Merchant, actor: Any, request: HttpRequest | None = None, **fields: Any) -> Store:
    """Create a store. ``timezone`` defaults to the merchant's; ``opening_hours`` is the weekday dict."""
    values = _normalise(fields)
    values.setdefault("timezone", merchant.timezone)
    store = Store(merchant=merchant, **{k: v for k, v in values.items() if k not in ("status", "closed_on")})
    _apply_status(store, values)
    if not values.get("opening_hours"):
        store.opening_hours = normalize_opening_hours({})
    _validate(store)
    _save(store)
    audit(
        action=AuditAction.STORE_CREATED,
        merchant=merchant,
        actor=actor,
        target=store.code,
        request=request,
        data={"name": store.name},
    )
    return store


@transaction.atomic
def store_update(*, store: Store, actor: Any, request: HttpRequest | None = None, **fields: Any) -> Store:
    """Change the given fields; writes (and audits) only what actually changed. Returns the store."""
    values = _normalise(fields)
    before = {name: getattr(store, name) for name in STORE_FIELDS}
    for name, value in values.items():
        if name not in ("status", "closed_on"):
            setattr(store, name, value)
    if "status" in values or "closed_on" in values:
        _apply_status(store, values)
    changed = {
        name: [_jsonable(before[name]), _jsonable(getattr(store, name))]
        for name in STORE_FIELDS
        if _jsonable(before[name]) != _jsonable(getattr(store, name))
    }
    if not changed:
        return store
    _validate(store)
    _save(store, update_fields=[*changed, "updated_at"])
    audit(
        action=AuditAction.STORE_UPDATED,
        merchant=store.merchant,
        actor=actor,
        target=store.code,
        request=request,
        data={"changed": changed},
    )
    return store


@transaction.atomic
def store_close(
    *, store: Store, actor: Any, request: HttpRequest | None = None, closed_on: date | None = None
) -> Store:
    """Mark the store closed from ``closed_on`` (default: today in the store's time zone).

    Stores are never deleted (their sales must keep pointing at them); closing is how a store ends. Closing a
    closed store changes nothing.
    """
    if store.status == StoreStatus.CLOSED:
        return store
    store.status = StoreStatus.CLOSED
    store.closed_on = closed_on or store_local_today(store.timezone)
    _validate(store)
    store.save(update_fields=["status", "closed_on", "updated_at"])
    audit(
        action=AuditAction.STORE_CLOSED,
        merchant=store.merchant,
        actor=actor,
        target=store.code,
        request=request,
        data={"closed_on": str(store.closed_on)},
    )
    return store


@transaction.atomic
def store_reopen(*, store: Store, actor: Any, request: HttpRequest | None = None) -> Store:
    """Undo a closure (e.g. closed by mistake): status back to active, closing date cleared."""
    return store_update(store=store, actor=actor, request=request, status=StoreStatus.ACTIVE)


# --- CSV import -----------------------------------------------------------------------------


class _StoreImport:
    """One import run: loads the merchant's affected stores once, then diffs and writes in bulk."""

    def __init__(self, merchant: Merchant):
        self.merchant = merchant
        self.existing: dict[str, Store] = {}

    def _load(self, codes: Iterable[str]) -> None:
        codes = sorted(set(codes))
        for start in range(0, len(codes), IMPORT_LOOKUP_CHUNK):
            chunk = codes[start : start + IMPORT_LOOKUP_CHUNK]
            for store in Store.objects.for_merchant(self.merchant).filter(code__in=chunk):
                self.existing[store.code] = store

    def check(self, rows: list[ParsedRow]) -> list[RowError]:
        """Rules that need the stored stores (loaded here once for the whole file): a closing date may not
        precede the stored opening date, nor lie in the future of the store's time zone."""
        self._load(row.values["code"] for row in rows)
        errors = []
        for row in rows:
            closed_on = row.values.get("closed_on")
            if closed_on is None:
                continue
            store = self.existing.get(row.values["code"])
            opened_on = row.values["opened_on"] if "opened_on" in row.values else getattr(store, "opened_on", None)
            if opened_on and closed_on < opened_on:
                errors.append(
                    RowError(
                        row.number,
                        "closed_on",
                        str(closed_on),
                        f"The store opened on {opened_on}: it cannot close before.",
                    )
                )
            store_timezone = row.values.get("timezone") or (store.timezone if store else self.merchant.timezone)
            if closed_on > store_local_today(store_timezone):
                errors.append(
                    RowError(row.number, "closed_on", str(closed_on), "The closing date cannot be in the future.")
                )
        return errors

    def write(self, rows: list[ParsedRow]) -> WriteCounts:
        now = timezone.now()
        to_create: list[Store] = []
        to_update: list[Store] = []
        updated_fields: set[str] = set()
        unchanged = 0
        for row in rows:
            values = dict(row.values)
            store = self.existing.get(values["code"])
            if store is None:
                to_create.append(self._new_store(values))
                continue
            changed = self._apply(store, values)
            if changed:
                store.updated_at = now
                updated_fields.update(changed)
                to_update.append(store)
            else:
                unchanged += 1
        try:
            with transaction.atomic():
                Store.objects.bulk_create(to_create, batch_size=1_000)
                if to_update:
                    Store.objects.bulk_update(to_update, sorted(updated_fields | {"updated_at"}), batch_size=500)
        except IntegrityError as exc:
            raise ValidationError(
                "Another change to these stores happened at the same time, so nothing was imported. "
                "Upload the file again."
            ) from exc
        return WriteCounts(created=len(to_create), updated=len(to_update), unchanged=unchanged)

    def _new_store(self, values: dict[str, Any]) -> Store:
        status = values.pop("status", None) or StoreStatus.ACTIVE
        closed_on = values.pop("closed_on", None)
        values["timezone"] = values.get("timezone") or self.merchant.timezone
        store = Store(merchant=self.merchant, **values)
        store.opening_hours = normalize_opening_hours(store.opening_hours)
        store.status = status
        store.closed_on = (closed_on or store_local_today(store.timezone)) if status == StoreStatus.CLOSED else None
        return store

    @staticmethod
    def _apply(store: Store, values: dict[str, Any]) -> list[str]:
        """Set the row's values on a stored store; return the names of the fields that changed."""
        changed = []
        status = values.pop("status", None) or store.status
        closed_on = values.pop("closed_on", None)
        if values.get("timezone") is None:
            values.pop("timezone", None)  # empty cell: keep the store's time zone
        for name, value in values.items():
            current = getattr(store, name)
            if name == "country":
                current = current.code
            elif name == "opening_hours":
                try:
                    current = normalize_opening_hours(current)
                except ValidationError:
                    current = None
            if current != value:
                setattr(store, name, value)
                changed.append(name)
        if status == StoreStatus.CLOSED:
            closed_on = closed_on or store.closed_on or store_local_today(store.timezone)
        else:
            closed_on = None
        if (status, closed_on) != (store.status, store.closed_on):
            changed += ["status", "closed_on"]
            store.status, store.closed_on = status, closed_on
        return changed


@transaction.atomic
def stores_import_csv(
    *,
    merchant: Merchant,
    file: Any,
    actor: Any,
    request: HttpRequest | None = None,
    mode: str = ImportMode.ALL_OR_NOTHING,
) -> ImportResult:
    """Import a store CSV (see ``stores.imports`` for the columns). Validates every row first; in
    ``all-or-nothing`` mode (the default) writes nothing unless the whole file is valid, in ``skip-invalid``
    mode writes the valid rows. Matches rows to stores by code: re-importing never duplicates.

    ``file`` is an uploaded file, a binary file object or bytes. Never raises for bad file content: errors are
    in ``result.errors``. An audit row records every import that wrote.
    """
    run = _StoreImport(merchant)
    result = run_import(file=file, spec=STORE_CSV_SPEC, mode=mode, check=run.check, write=run.write)
    audit_import(result, action=AuditAction.STORES_IMPORTED, merchant=merchant, actor=actor, request=request)
    return result
