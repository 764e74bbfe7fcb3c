"""The store CSV format: its columns, their documentation and their per-row validation.

Semantics of an import (documented on the import page, generated from this spec):

- Rows are matched to existing stores by ``code`` (case-insensitive): a known code updates that store, an
  unknown one creates it. Nothing is ever deleted; a store missing from the file is left alone.
- Only the columns present in the file are written; an optional column left out keeps its current value.
- An empty cell clears the value, except where noted (``timezone``, ``status``: empty keeps the current
  value, or the default for a new store).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.exceptions import ValidationError

from core.csv_import import Column, CsvSpec

from .models import Store, StoreStatus
from .validation import (
    HOURS_TEXT_HELP,
    STORE_CODE_HELP,
    WEEKDAY_LABELS,
    WEEKDAYS,
    normalize_country,
    normalize_store_code,
    normalize_timezone,
    parse_coordinate,
    parse_hours_text,
    validate_store_code,
)

HOURS_COLUMNS = tuple(f"hours_{day}" for day in WEEKDAYS)


def _model_text(field_name: str):
    model_field = Store._meta.get_field(field_name)

    def parse(text: str) -> str:
        return model_field.clean(text, None)

    return parse


def _code(text: str) -> str:
    code = normalize_store_code(text)
    validate_store_code(code)
    return code


def parse_iso_date(text: str) -> date:
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            "“%(value)s” is not a date: write it as YYYY-MM-DD, e.g. 2024-03-31.", params={"value": text}
        ) from None


def _status(text: str) -> str:
    value = text.lower()
    if value not in StoreStatus.values:
        raise ValidationError(
            "“%(value)s” is not a status: use active or closed.", params={"value": text}, code="invalid_status"
        )
    return value


def _clean_row(values: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    has_latitude, has_longitude = values.get("latitude") is not None, values.get("longitude") is not None
    if "latitude" in values and "longitude" in values and has_latitude != has_longitude:
        missing = "longitude" if has_latitude else "latitude"
        errors[missing] = "Give both latitude and longitude, or neither."
    if values.get("closed_on") and values.get("status") != StoreStatus.CLOSED:
        errors["closed_on"] = "Only a closed store has a closing date: set status to closed, or leave it empty."
    if values.get("closed_on") and values.get("opened_on") and values["closed_on"] < values["opened_on"]:
        errors["closed_on"] = "The store cannot close before it opened (opened_on)."
    if errors:
        raise ValidationError(errors)
    if "hours_mon" in values:
        values["opening_hours"] = {day: values.pop(f"hours_{day}") for day in WEEKDAYS}
    return values


def _validate_header(header: list[str]) -> list[str]:
    present = [column for column in HOURS_COLUMNS if column in header]
    if present and len(present) != len(HOURS_COLUMNS):
        missing = [column for column in HOURS_COLUMNS if column not in header]
        return [f"give all seven hours_ columns or none; missing: {', '.join(missing)}"]
    return []


STORE_CSV_SPEC = CsvSpec(
    name="stores",
    key="code",
    max_rows=10_000,
    clean_row=_clean_row,
    validate_header=_validate_header,
    columns=(
        Column(
            "code",
            required=True,
            blank=False,
            parse=_code,
            description=f"Your store code, unique among your stores. {STORE_CODE_HELP}",
            example="PAR-01",
        ),
        Column(
            "name",
            required=True,
            blank=False,
            parse=_model_text("name"),
            description="Store name.",
            example="Paris Marais",
        ),
        Column(
            "address_line1",
            parse=_model_text("address_line1"),
            description="Street address.",
            example="12 rue des Francs-Bourgeois",
        ),
        Column("address_line2", parse=_model_text("address_line2"), description="Building, floor, unit.", example=""),
        Column("city", parse=_model_text("city"), description="City.", example="Paris"),
        Column("region", parse=_model_text("region"), description="Region, state or county.", example="Île-de-France"),
        Column("postal_code", parse=_model_text("postal_code"), description="Postal code.", example="75004"),
        Column(
            "country",
            required=True,
            blank=False,
            parse=normalize_country,
            description="ISO 3166 country code (FR, DE, GB...); an English country name also works.",
            example="FR",
        ),
        Column(
            "latitude",
            parse=lambda text: parse_coordinate(text, kind="latitude"),
            empty=None,
            description="Decimal degrees between -90 and 90, with longitude.",
            example="48.857700",
        ),
        Column(
            "longitude",
            parse=lambda text: parse_coordinate(text, kind="longitude"),
            empty=None,
            description="Decimal degrees between -180 and 180, with latitude.",
            example="2.358200",
        ),
        Column(
            "timezone",
            parse=normalize_timezone,
            empty=None,
            description="IANA time zone. Empty: your brand's time zone for a new store, unchanged otherwise.",
            example="Europe/Paris",
        ),
        Column(
            "opened_on", parse=parse_iso_date, empty=None, description="Opening date, YYYY-MM-DD.", example="2019-04-15"
        ),
        Column(
            "status",
            parse=_status,
            empty=None,
            description="active or closed. Empty: active for a new store, unchanged otherwise.",
            example="active",
        ),
        Column(
            "closed_on",
            parse=parse_iso_date,
            empty=None,
            description="Closing date (YYYY-MM-DD) of a closed store; empty means today.",
            example="",
        ),
        *(
            Column(
                f"hours_{day}",
                parse=parse_hours_text,
                empty=[],
                description=f"{WEEKDAY_LABELS[day]} opening hours. {HOURS_TEXT_HELP}",
                example="10:00-19:00" if day != "sun" else "",
            )
            for day in WEEKDAYS
        ),
    ),
)
