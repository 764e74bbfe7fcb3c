"""The dashboard's filters: one object shared by the page, the analytics API and every report.

``Filters`` is what selectors take. ``filters_from_params`` builds it from a query string (page, API) or a
report's stored ``params`` dict and raises ``FilterError`` (field → message) on bad input. The keys are the
API's: ``from``, ``to`` (inclusive local dates, ISO), ``preset``, ``channel``, ``store`` (store codes,
repeatable), ``region``, ``category`` (category name), ``compare``.

Store restriction: ``store_ids`` is always the effective set of store ids to read (``None`` = every store and
online sales without a store). A store manager's tenant narrows it to their stores (``tenant.store_ids``); a
store manager never sees online sales that name no store of theirs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from django.utils import timezone

if TYPE_CHECKING:
    from merchants.tenancy import Tenant

MAX_RANGE_DAYS = 3 * 366 + 1  # a custom range longer than three years is refused (the rollups still answer)
CHANNELS = ("online", "offline")


class Compare(StrEnum):
    PREVIOUS = "previous"  # the same number of days just before
    LAST_YEAR = "last_year"  # the same dates one year earlier (Feb 29 → Feb 28)
    NONE = "none"


class Preset(StrEnum):
    TODAY = "today"
    YESTERDAY = "yesterday"
    LAST_7 = "last_7"
    LAST_30 = "last_30"
    LAST_90 = "last_90"
    MONTH_TO_DATE = "mtd"
    QUARTER_TO_DATE = "qtd"
    YEAR_TO_DATE = "ytd"
    LAST_2_YEARS = "last_730"  # "last 2 years"
    CUSTOM = "custom"


class FilterError(ValueError):
    """Bad filter input: ``errors`` maps the parameter name to a message a person can act on."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


@dataclass(frozen=True)
class Filters:
    merchant_id: int
    date_from: date  # inclusive, local day
    date_to: date  # inclusive, local day
    channel: str | None = None  # None = both; "online" | "offline"
    store_ids: frozenset[int] | None = None  # None = no store restriction (includes online without a store)
    category_id: int | None = None
    compare: Compare = Compare.PREVIOUS
    preset: Preset = Preset.CUSTOM

    @property
    def days(self) -> int:
        return (self.date_to - self.date_from).days + 1

    def comparison(self) -> Filters | None:
        """The same filters over the comparison period, or None when ``compare`` is ``none``."""
        if self.compare == Compare.NONE:
            return None
        if self.compare == Compare.PREVIOUS:
            end = self.date_from - timedelta(days=1)
            return replace(self, date_from=end - timedelta(days=self.days - 1), date_to=end, compare=Compare.NONE)
        return replace(
            self, date_from=_year_earlier(self.date_from), date_to=_year_earlier(self.date_to), compare=Compare.NONE
        )


def _year_earlier(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # Feb 29
        return day.replace(year=day.year - 1, day=28)


def preset_range(preset: Preset, today: date) -> tuple[date, date]:
    """The inclusive local-date range of a preset, relative to the merchant's ``today``."""
    match preset:
        case Preset.TODAY:
            return today, today
        case Preset.YESTERDAY:
            return today - timedelta(days=1), today - timedelta(days=1)
        case Preset.LAST_7 | Preset.LAST_30 | Preset.LAST_90 | Preset.LAST_2_YEARS:
            n = int(preset.value.split("_")[1])
            return today - timedelta(days=n - 1), today
        case Preset.MONTH_TO_DATE:
            return today.replace(day=1), today
        case Preset.QUARTER_TO_DATE:
            return today.replace(month=(today.month - 1) // 3 * 3 + 1, day=1), today
        case Preset.YEAR_TO_DATE:
            return today.replace(month=1, day=1), today
    raise ValueError(f"preset {preset} has no fixed range")


def _values(params: Mapping[str, Any], key: str) -> list[str]:
    """Every non-empty value of ``key`` in a QueryDict (repeated keys) or a plain dict (a value or a list);
    comma-separated values are split too (``store=PAR-01,LYO-01``)."""
    if hasattr(params, "getlist"):
        raw = params.getlist(key)
    else:
        value = params.get(key)
        raw = [] if value is None else list(value) if isinstance(value, list | tuple) else [value]
    values: list[str] = []
    for item in raw:
        values += [part.strip() for part in str(item).split(",") if part.strip()]
    return values


def _one(params: Mapping[str, Any], key: str, errors: dict[str, str]) -> str:
    values = _values(params, key)
    if len(values) > 1:
        errors[key] = f"Give one “{key}”, not {len(values)}."
        return ""
    return values[0] if values else ""


def _date(value: str, key: str, errors: dict[str, str]) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors[key] = f"“{value}” is not a date: use YYYY-MM-DD (for example 2024-05-31)."
        return None


def merchant_today(merchant) -> date:
    """Today in the merchant's time zone (what presets are relative to)."""
    return timezone.now().astimezone(merchant.tzinfo).date()


def filters_from_params(tenant: Tenant, params: Mapping[str, Any], *, today: date | None = None) -> Filters:
    """Build ``Filters`` from a query string (``request.GET``) or a report's stored params dict.

    ``from``/``to`` (inclusive local dates) make a custom range; otherwise ``preset`` (default ``last_30``) is
    resolved against the merchant's today. ``store`` codes (repeatable) and ``region`` narrow the stores (both:
    the stores in both), always within a store manager's own stores. ``category`` is a category name. Raises
    ``FilterError`` naming every bad parameter. At most three queries (stores, region, category), each only when
    its parameter is given.
    """
    from catalog.models import Category
    from stores.models import Store
    from stores.validation import normalize_store_code

    merchant = tenant.merchant
    errors: dict[str, str] = {}
    today = today or merchant_today(merchant)

    raw_from, raw_to, raw_preset = (
        _one(params, "from", errors),
        _one(params, "to", errors),
        _one(params, "preset", errors),
    )
    date_from = date_to = None
    preset = Preset.CUSTOM
    if raw_from or raw_to:
        if raw_preset and raw_preset != Preset.CUSTOM:
            errors["preset"] = f"Give either “preset” ({raw_preset}) or “from” and “to”, not both."
        elif not (raw_from and raw_to):
            errors["from" if not raw_from else "to"] = "A custom range needs both “from” and “to” (YYYY-MM-DD)."
        else:
            date_from, date_to = _date(raw_from, "from", errors), _date(raw_to, "to", errors)
            if date_from and date_to and date_from > date_to:
                errors["to"] = f"“to” ({date_to}) is before “from” ({date_from})."
            elif date_from and date_to and (date_to - date_from).days + 1 > MAX_RANGE_DAYS:
                errors["from"] = f"The range is {(date_to - date_from).days + 1} days; at most {MAX_RANGE_DAYS}."
    else:
        try:
            preset = Preset(raw_preset or Preset.LAST_30)
        except ValueError:
            choices = ", ".join(p.value for p in Preset if p != Preset.CUSTOM)
            errors["preset"] = f"“{raw_preset}” is not a preset: use one of {choices}."
        else:
            if preset == Preset.CUSTOM:
                errors["preset"] = "The “custom” preset needs “from” and “to” (YYYY-MM-DD)."
            else:
                date_from, date_to = preset_range(preset, today)

    channel = _one(params, "channel", errors).lower() or None
    if channel == "all":
        channel = None
    if channel is not None and channel not in CHANNELS:
        errors["channel"] = f"“{channel}” is not a channel: use online, offline or all."

    raw_compare = _one(params, "compare", errors).lower()
    compare = Compare.PREVIOUS
    if raw_compare:
        try:
            compare = Compare(raw_compare)
        except ValueError:
            errors["compare"] = f"“{raw_compare}” is not a comparison: use previous, last_year or none."

    store_ids: frozenset[int] | None = tenant.store_ids
    codes = [normalize_store_code(code) for code in _values(params, "store")]
    if codes:
        found = dict(Store.objects.for_merchant(merchant).filter(code__in=codes).values_list("code", "pk"))
        unknown = [code for code in dict.fromkeys(codes) if code not in found]
        if unknown:
            errors["store"] = f"Unknown store code(s): {', '.join(unknown)}."
        chosen = frozenset(found.values())
        store_ids = chosen if store_ids is None else store_ids & chosen
    region = _one(params, "region", errors)
    if region:
        in_region = frozenset(
            Store.objects.for_merchant(merchant).filter(region__iexact=region).values_list("pk", flat=True)
        )
        if not in_region:
            errors["region"] = f"No store is in the region “{region}”."
        store_ids = in_region if store_ids is None else store_ids & in_region

    category_id = None
    category = _one(params, "category", errors)
    if category:
        category_id = (
            Category.objects.for_merchant(merchant).filter(name__iexact=category).values_list("pk", flat=True).first()
        )
        if category_id is None:
            errors["category"] = f"Unknown category “{category}”."

    if (date_from is None or date_to is None) and not errors:  # unreachable: a bad range always says why
        errors["from"] = "Give a date range: “preset”, or “from” and “to”."
    if errors:
        raise FilterError(errors)
    return Filters(
        merchant_id=merchant.pk,
        date_from=date_from,
        date_to=date_to,
        channel=channel,
        store_ids=store_ids,
        category_id=category_id,
        compare=compare,
        preset=preset,
    )
