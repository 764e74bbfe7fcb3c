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

from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import StrEnum


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
