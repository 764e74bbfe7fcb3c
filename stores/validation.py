"""The rules for store data, in one place: the model's validators, the form, the CSV import and the API all
call these functions.

Decisions (also in the stores README section of the import page):

- **Store codes** are case-insensitive: surrounding spaces are stripped and the code is stored upper-cased,
  so ``par-01`` and ``PAR-01`` are the same store. 1–32 characters: letters A–Z, digits, ``.``, ``_`` and
  ``-``, starting with a letter or digit (codes appear in URLs, file names and POS exports).
- **Opening hours** are ``{"mon": ["09:00-12:00", "14:00-19:00"], ..., "sun": []}``: weekdays ``mon``..``sun``,
  each a list of ``HH:MM-HH:MM`` intervals (24-hour clock, ``24:00`` allowed as an end), start before end,
  intervals not overlapping. An empty list or a missing day means closed. Overnight intervals are not
  supported (split them: ``18:00-24:00`` and ``00:00-02:00`` the next day). Normalised form: all seven days,
  intervals sorted.
- **Country** is an ISO 3166 alpha-2 code; alpha-3 codes and English names are accepted on input.
- **Time zone** is an IANA name; case is corrected on input (``europe/paris`` → ``Europe/Paris``).
- **Coordinates** are rounded to 6 decimals (about 10 cm), latitude in [-90, 90], longitude in [-180, 180],
  and come as a pair.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django_countries import countries

from merchants.models import TIMEZONE_NAMES

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_LABELS = {
    "mon": "Monday",
    "tue": "Tuesday",
    "wed": "Wednesday",
    "thu": "Thursday",
    "fri": "Friday",
    "sat": "Saturday",
    "sun": "Sunday",
}

# --- store codes ----------------------------------------------------------------------------

STORE_CODE_MAX_LENGTH = 32
STORE_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
STORE_CODE_HELP = "1–32 letters, digits, dots, underscores or hyphens; case does not matter (stored upper-case)."


def normalize_store_code(value: str) -> str:
    return (value or "").strip().upper()


def validate_store_code(value: str) -> None:
    if not STORE_CODE_RE.match(value or ""):
        raise ValidationError(
            "“%(value)s” is not a valid store code: use " + STORE_CODE_HELP[0].lower() + STORE_CODE_HELP[1:],
            params={"value": value},
            code="invalid_store_code",
        )


# --- opening hours --------------------------------------------------------------------------

_TIME_RE = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
_INTERVAL_SPLIT_RE = re.compile(r"[,;]")
HOURS_TEXT_HELP = "For example “09:00-12:00, 14:00-19:00”. Leave blank when closed."


def _minutes(text: str, *, is_end: bool) -> int:
    match = _TIME_RE.match(text)
    if not match:
        raise ValueError
    hours, minutes = int(match.group(1)), int(match.group(2))
    if hours == 24 and (minutes or not is_end):
        raise ValueError
    return hours * 60 + minutes


def _parse_interval(text: str) -> tuple[int, int]:
    """``"09:00-19:00"`` → (540, 1140); raises ValidationError naming the interval."""
    parts = text.split("-")
    if len(parts) != 2:
        raise ValidationError(
            "“%(value)s” is not an interval: write HH:MM-HH:MM, e.g. 09:00-19:00.",
            params={"value": text},
            code="invalid_hours",
        )
    try:
        start, end = _minutes(parts[0], is_end=False), _minutes(parts[1], is_end=True)
    except ValueError:
        raise ValidationError(
            "“%(value)s” is not an interval: write HH:MM-HH:MM with a 24-hour clock, e.g. 09:00-19:00.",
            params={"value": text},
            code="invalid_hours",
        ) from None
    if start >= end:
        raise ValidationError(
            "“%(value)s” ends before it starts: the start must be earlier than the end (overnight hours are "
            "written as two intervals).",
            params={"value": text},
            code="invalid_hours",
        )
    return start, end


def _check_day(intervals: list[str]) -> list[str]:
    """Validate one day's intervals; return them sorted. Raises ValidationError with one message."""
    parsed = sorted((_parse_interval(interval), interval) for interval in intervals)
    for (previous, previous_text), (current, current_text) in zip(parsed, parsed[1:], strict=False):
        if current[0] < previous[1]:
            raise ValidationError(
                "“%(first)s” and “%(second)s” overlap.",
                params={"first": previous_text, "second": current_text},
                code="overlapping_hours",
            )
    return [text for _, text in parsed]


def validate_opening_hours(value: Any) -> None:
    """Model validator: the stored structure must be exactly the documented shape (see module doc)."""
    normalize_opening_hours(value)


def normalize_opening_hours(value: Any) -> dict[str, list[str]]:
    """Validate ``{"mon": ["09:00-19:00"], ...}`` and return it with all seven days, intervals sorted.

    Raises ``ValidationError`` whose messages start with the weekday they concern.
    """
    if value in (None, ""):
        return {day: [] for day in WEEKDAYS}
    if not isinstance(value, dict):
        raise ValidationError(
            'Opening hours must be an object of weekdays, e.g. {"mon": ["09:00-19:00"]}.', code="invalid_hours"
        )
    unknown = [str(key) for key in value if key not in WEEKDAYS]
    if unknown:
        raise ValidationError(
            "Unknown weekday(s) %(days)s: use %(weekdays)s.",
            params={"days": ", ".join(unknown), "weekdays": ", ".join(WEEKDAYS)},
            code="invalid_hours",
        )
    normalised: dict[str, list[str]] = {}
    errors = []
    for day in WEEKDAYS:
        intervals = value.get(day) or []
        if not isinstance(intervals, list) or not all(isinstance(item, str) for item in intervals):
            errors.append(
                ValidationError(
                    '%(day)s: give a list of intervals like ["09:00-19:00"].', params={"day": day}, code="invalid"
                )
            )
            continue
        try:
            normalised[day] = _check_day(intervals)
        except ValidationError as exc:
            errors.append(ValidationError(f"{day}: {exc.messages[0]}", code="invalid_hours"))
    if errors:
        raise ValidationError(errors)
    return normalised


def parse_hours_text(text: str) -> list[str]:
    """One weekday as people type it: ``"09:00-12:00, 14:00-19:00"`` (commas or semicolons), blank = closed.
    Spaces are ignored; an en dash is read as a hyphen. Returns the sorted canonical intervals."""
    text = (text or "").replace("–", "-").replace(" ", "")
    intervals = [piece for piece in _INTERVAL_SPLIT_RE.split(text) if piece]
    return _check_day(intervals)


def format_hours_text(intervals: list[str] | None) -> str:
    return ", ".join(intervals or [])


# --- country, time zone, coordinates --------------------------------------------------------

_TIMEZONES_BY_LOWER = {name.lower(): name for name in TIMEZONE_NAMES}


def normalize_country(value: str) -> str:
    """ISO alpha-2 (any case), alpha-3 or English name → alpha-2; ValidationError otherwise."""
    text = (value or "").strip()
    code = countries.alpha2(text) if text else ""
    if not code and len(text) > 3:
        code = countries.by_name(text) or ""
    if not code:
        raise ValidationError(
            "“%(value)s” is not a country: use an ISO 3166 code such as FR, DE or GB.",
            params={"value": text},
            code="invalid_country",
        )
    return code


def normalize_timezone(value: str) -> str:
    text = (value or "").strip()
    name = _TIMEZONES_BY_LOWER.get(text.lower())
    if name is None:
        raise ValidationError(
            "“%(value)s” is not an IANA time zone (for example Europe/Paris or America/New_York).",
            params={"value": text},
            code="invalid_timezone",
        )
    return name


COORDINATE_PLACES = Decimal("0.000001")


def parse_coordinate(value: Any, *, kind: str) -> Decimal:
    """``kind`` is "latitude" or "longitude"; returns a Decimal rounded to 6 places."""
    limit = 90 if kind == "latitude" else 180
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        number = None
    if number is None or not number.is_finite() or not -limit <= number <= limit:
        raise ValidationError(
            "“%(value)s” is not a %(kind)s: give a decimal number between -%(limit)s and %(limit)s (e.g. 48.8566).",
            params={"value": value, "kind": kind, "limit": limit},
            code=f"invalid_{kind}",
        )
    return number.quantize(COORDINATE_PLACES, rounding=ROUND_HALF_UP)
