"""Plotly figure builders and the tables behind them, from selector results (``analytics.selectors``).

Each chart of the dashboard is a pair: a figure (a plain Plotly JSON dict, rendered in the browser by
``Plotly.newPlot``) and a :class:`Table` holding the same numbers (shown in a ``<details>`` and downloaded as
CSV). Figures are built as dicts rather than ``plotly.graph_objects`` because validation costs milliseconds per
trace on every request; tests validate every builder's output with ``plotly.graph_objects.Figure``.

Money stays ``Decimal`` in tables and CSV; figures get floats (display only). :class:`NumberFormat` formats
numbers in the merchant's currency and locale (babel).
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cached_property
from html import escape as escape_html
from typing import Any

from babel.core import Locale, UnknownLocaleError, get_global
from babel.dates import format_date
from babel.languages import get_official_languages
from babel.numbers import (
    format_currency,
    format_decimal,
    format_percent,
    get_currency_precision,
    get_currency_symbol,
    get_decimal_symbol,
    get_group_symbol,
    get_minus_sign_symbol,
)
from django.utils.safestring import mark_safe

from analytics.filters import Filters
from analytics.selectors import (
    BehaviourRow,
    CategoryRow,
    HourCell,
    Kpis,
    NewReturningPoint,
    ProductRow,
    SeriesPoint,
    StoreRow,
    Summary,
)
from sales.imports import csv_safe

CHANNEL_LABELS = {"online": "Online", "offline": "In store"}
CHANNEL_COLOURS = {"online": "#1d5fb4", "offline": "#d9822b", "all": "#5b6770"}
COMPARISON_COLOUR = "#8a8f98"
BEHAVIOUR_LABELS = {"online_only": "Online only", "offline_only": "In store only", "both": "Both (omnichannel)"}
BEHAVIOUR_ORDER = ("online_only", "offline_only", "both")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
LEADERBOARD_SIZE = 15
PLOT_FONT = {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12}


# --- formatting -----------------------------------------------------------------------------


def merchant_locale(timezone_name: str) -> Locale:
    """The locale numbers are written in for a merchant: the main language of its time zone's country
    (Europe/Paris → fr_FR, America/New_York → en_US), en_US when the zone names no country (UTC)."""
    territory = get_global("zone_territories").get(timezone_name)
    if territory:
        for language in get_official_languages(territory, de_facto=True):
            try:
                return Locale.parse(f"{language}_{territory}")
            except (UnknownLocaleError, ValueError):
                continue
    return Locale.parse("en_US")


@dataclass(frozen=True)
class NumberFormat:
    currency: str
    locale: Locale

    @classmethod
    def for_merchant(cls, merchant) -> NumberFormat:
        return cls(currency=merchant.currency, locale=merchant_locale(merchant.timezone))

    @cached_property
    def date_locale(self) -> Locale:
        """Dates are written in English (the portal's language) the way the merchant's country orders them."""
        try:
            return Locale.parse(f"en_{self.locale.territory}")
        except (UnknownLocaleError, ValueError, TypeError):
            return Locale.parse("en_US")

    def money(self, value: Decimal | None) -> str:
        if value is None:
            return "—"
        if self._fast is None:
            return format_currency(value, self.currency, locale=self.locale)
        return self._fast.money(value)

    def integer(self, value: int | Decimal | None) -> str:
        if value is None:
            return "—"
        if self._fast is None:
            return format_decimal(value, format="#,##0", locale=self.locale)
        return self._fast.signed(Decimal(value), 0)

    def decimal(self, value: Decimal | None) -> str:
        """Up to two decimals, none when whole (units: "4", "1,33")."""
        if value is None:
            return "—"
        fast = self._fast
        if fast is None:
            return format_decimal(value, format="#,##0.##", locale=self.locale)
        text = fast.signed(value, 2)
        return text.rstrip("0").rstrip(fast.decimal) if fast.decimal in text else text

    def percent(self, value: Decimal | None) -> str:
        if value is None:
            return "—"
        if self._fast is None:
            return format_percent(value, format="#,##0.0%", locale=self.locale)
        return self._fast.signed(value * 100, 1) + "%"

    @cached_property
    def _fast(self) -> _FastNumbers | None:
        """Babel formats one number in ~50 µs, too slow for tables of thousands of cells: for the usual case
        (Latin digits, groups of three, "-" as minus) the same output is built with ``format()`` from the
        locale's symbols and currency pattern (tests compare both); other locales go through babel."""
        pattern = self.locale.currency_formats["standard"]
        if (
            self.locale.default_numbering_system != "latn"
            or pattern.grouping != (3, 3)
            or self.locale.decimal_formats[None].grouping != (3, 3)
            or get_minus_sign_symbol(self.locale) != "-"
        ):
            return None
        symbol = get_currency_symbol(self.currency, locale=self.locale)
        fast = _FastNumbers(
            decimal=get_decimal_symbol(self.locale),
            group=get_group_symbol(self.locale),
            currency_precision=get_currency_precision(self.currency),
            prefix=pattern.prefix[0].replace("¤", symbol),
            suffix=pattern.suffix[0].replace("¤", symbol),
            negative_prefix=pattern.prefix[1].replace("¤", symbol),
            negative_suffix=pattern.suffix[1].replace("¤", symbol),
        )
        # Locales have quirks (de_CH does not group currency amounts): use the fast path only where it matches.
        for sample in (Decimal("-1234567.891"), Decimal("1234.5")):
            if fast.money(sample) != format_currency(sample, self.currency, locale=self.locale) or fast.signed(
                sample, 2
            ) != format_decimal(sample, format="#,##0.00", locale=self.locale):
                return None
        return fast

    def points(self, value: Decimal | None) -> str:
        """A difference of two shares, in percentage points."""
        if value is None:
            return "—"
        return f"{'+' if value >= 0 else ''}{format_decimal(value * 100, format='#,##0.0', locale=self.locale)} pt"

    def change(self, value: Decimal | None) -> str:
        if value is None:
            return "—"
        return ("+" if value >= 0 else "") + self.percent(value)

    def day(self, value: date) -> str:
        return format_date(value, format="medium", locale=self.date_locale)

    def cell(self, value: Any, kind: str) -> str:
        formatter = self._formatters.get(kind)
        if formatter is None:
            return "" if value is None else str(value)
        return formatter(value)

    @cached_property
    def _formatters(self) -> dict[str, Any]:
        return {
            "money": self.money,
            "int": self.integer,
            "decimal": self.decimal,
            "percent": self.percent,
            "change": self.change,
            "date": lambda value: "—" if value is None else self.day(value),
        }

    @cached_property
    def plotly_separators(self) -> str:
        """Plotly's ``layout.separators``: the decimal then the thousands separator of the locale."""
        return get_decimal_symbol(self.locale) + get_group_symbol(self.locale)

    @cached_property
    def hover_money(self) -> str:
        """A d3 hover format for money with the currency symbol on the side the locale puts it."""
        symbol = self.locale.currency_symbols.get(self.currency, self.currency)
        pattern = self.locale.currency_formats["standard"].pattern
        return f"{symbol}%{{y:,.2f}}" if pattern.lstrip().startswith("¤") else f"%{{y:,.2f}} {symbol}"

    def hover(self, axis: str) -> str:
        return self.hover_money.replace("%{y", "%{" + axis)


@dataclass(frozen=True)
class _FastNumbers:
    decimal: str
    group: str
    currency_precision: int
    prefix: str
    suffix: str
    negative_prefix: str
    negative_suffix: str

    def money(self, value: Decimal) -> str:
        digits = self.digits(value, self.currency_precision)
        if value < 0:
            return f"{self.negative_prefix}{digits}{self.negative_suffix}"
        return f"{self.prefix}{digits}{self.suffix}"

    def digits(self, value: Decimal, places: int) -> str:
        """|value| rounded half-even (as babel does) to ``places``, with the locale's separators."""
        return format(abs(Decimal(value)), f",.{places}f").translate(self.separators)

    @cached_property
    def separators(self) -> dict[int, str]:
        return str.maketrans({",": self.group, ".": self.decimal})

    def signed(self, value: Decimal, places: int) -> str:
        digits = self.digits(value, places)
        return f"-{digits}" if value < 0 and digits.strip("0" + self.decimal + self.group) else digits


# --- tables ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str = "text"  # text | money | int | decimal | percent | change | date

    @property
    def numeric(self) -> bool:
        return self.kind != "text"


@dataclass(frozen=True)
class Table:
    columns: tuple[Column, ...]
    rows: list[tuple]

    def csv_rows(self) -> Iterable[list[str]]:
        """Header then rows, raw values (Decimal as written, ISO dates): for spreadsheets, not people. Text cells
        that a spreadsheet would run as a formula are defused (numbers keep their sign)."""
        yield [column.label for column in self.columns]
        for row in self.rows:
            yield [_csv_cell(value, column) for column, value in zip(self.columns, row, strict=True)]

    def display_rows(self, fmt: NumberFormat, links: Sequence[str | None] | None = None) -> list[list[DisplayCell]]:
        """Rows of formatted cells for the HTML table; ``links`` (one URL or None per row) links the first cell."""
        rows = []
        cell = fmt.cell
        kinds = [(column.kind, column.numeric) for column in self.columns]
        for index, row in enumerate(self.rows):
            cells = [DisplayCell(cell(value, kind), numeric) for (kind, numeric), value in zip(kinds, row, strict=True)]
            if links is not None and links[index]:
                cells[0] = DisplayCell(cells[0].text, cells[0].numeric, links[index])
            rows.append(cells)
        return rows


@dataclass(frozen=True)
class DisplayCell:
    text: str
    numeric: bool
    url: str | None = None


class PackedRows(Sequence):
    """Display rows kept pickled as one ``bytes`` in the cached page context and unpacked only when read.

    A warm dashboard request unpickles its whole context from the cache: thousands of ``DisplayCell`` objects
    (hundreds of stores) would each be a new garbage-collector container, and enough of them per request make
    the interpreter run a full collection of the heap every few requests (~100 ms). The page itself needs only
    the number of rows (the HTML table is already rendered), so the cells stay packed until someone reads them.
    """

    __slots__ = ("_count", "_packed", "_rows")

    def __init__(self, rows: list[list[DisplayCell]]):
        self._count = len(rows)
        self._packed = pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)
        self._rows: list[list[DisplayCell]] | None = rows

    def __reduce__(self):
        return (_packed_rows, (self._count, self._packed))

    def unpack(self) -> list[list[DisplayCell]]:
        if self._rows is None:
            self._rows = pickle.loads(self._packed)  # noqa: S301 - bytes this module pickled, from our own cache
        return self._rows

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index):
        return self.unpack()[index]

    def __iter__(self):
        return iter(self.unpack())

    def __eq__(self, other) -> bool:
        if isinstance(other, PackedRows):
            return self._count == other._count and self.unpack() == other.unpack()
        return self.unpack() == other

    __hash__ = None

    def __repr__(self) -> str:
        return f"PackedRows({self._count} rows)"


def _packed_rows(count: int, packed: bytes) -> PackedRows:
    rows = PackedRows.__new__(PackedRows)
    rows._count, rows._packed, rows._rows = count, packed, None
    return rows


def _csv_cell(value: Any, column: Column) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return csv_safe(value) if column.kind == "text" else str(value)


# --- figures: shared bits -------------------------------------------------------------------


def _float(value: Decimal | int | None) -> float | None:
    return None if value is None else float(value)


def _layout(fmt: NumberFormat, **extra) -> dict:
    layout = {
        "separators": fmt.plotly_separators,
        "font": PLOT_FONT,
        "margin": {"l": 60, "r": 20, "t": 20, "b": 50},
        "legend": {"orientation": "h", "y": -0.2},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "hovermode": "closest",
    }
    layout.update(extra)
    return layout


def figure_json(figure: dict) -> str:
    """The figure as JSON for ``Plotly.newPlot`` (safe inside a ``<script type="application/json">``)."""
    return json.dumps(figure, separators=(",", ":"), default=str).replace("</", "<\\/")


def choose_interval(filters: Filters) -> str:
    """Buckets of the time charts: days up to two months, weeks up to a year, months beyond."""
    if filters.days <= 62:
        return "day"
    if filters.days <= 366:
        return "week"
    return "month"


# --- KPI cards ------------------------------------------------------------------------------


@dataclass(frozen=True)
class KpiCard:
    key: str
    label: str
    value: str
    comparison: str | None  # the comparison period's value, formatted
    delta: str | None  # "+12.3%" or "+1.5 pt"
    trend: str  # "up" | "down" | "flat" | "" (no comparison)
    good: bool | None  # whether the change is good news (refunds up is not)
    hint: str = ""


# (key, label, kind, higher is better, hint)
KPI_SPECS: tuple[tuple[str, str, str, bool, str], ...] = (
    ("net_sales", "Net sales", "money", True, "Gross sales − discounts − refunds"),
    ("gross_sales", "Gross sales", "money", True, "Before discounts, excluding tax"),
    ("refunds", "Refunds", "money", False, "Counted on the day of the refund"),
    ("orders", "Orders", "int", True, "Orders with at least one item sold"),
    ("average_order_value", "Average order value", "money", True, "Net sales / orders"),
    ("units", "Units", "decimal", True, "Sold minus returned"),
    ("units_per_order", "Units per order", "decimal", True, ""),
    ("customers", "Customers", "int", True, "Identified customers who ordered"),
    ("returning_share", "Returning customers", "share", True, "Share who had ordered before the range"),
    ("omnichannel_customers", "Omnichannel customers", "int", True, "Bought online and in store in the range"),
    ("omnichannel_sales_share", "Omnichannel share of sales", "share", True, "Their net sales / net sales"),
    ("online_share", "Online share", "share", True, "Online net sales / net sales"),
)


def _relative_change(current: Decimal | int | None, previous: Decimal | int | None) -> Decimal | None:
    if current is None or previous is None or previous == 0:
        return None
    return (Decimal(current) - Decimal(previous)) / abs(Decimal(previous))


def kpi_cards(summary: Summary, fmt: NumberFormat) -> list[KpiCard]:
    cards = []
    for key, label, kind, higher_is_better, hint in KPI_SPECS:
        value = getattr(summary.current, key)
        previous = getattr(summary.comparison, key) if summary.comparison is not None else None
        if kind == "share":
            shown, shown_previous = fmt.percent(value), fmt.percent(previous)
            difference = None if value is None or previous is None else value - previous
            delta = None if difference is None else fmt.points(difference)
        else:
            shown = fmt.cell(value, kind)
            shown_previous = fmt.cell(previous, kind)
            difference = _relative_change(value, previous)
            delta = None if difference is None else fmt.change(difference)
        if summary.comparison is None:
            trend, good, shown_previous = "", None, None
        elif difference is None or difference == 0:
            trend, good = "flat", None
        else:
            trend = "up" if difference > 0 else "down"
            good = (difference > 0) == higher_is_better
        cards.append(KpiCard(key, label, shown, shown_previous, delta, trend, good, hint))
    return cards


# --- the charts -----------------------------------------------------------------------------


def _group_series(points: Sequence[SeriesPoint]) -> tuple[list[date], dict[str, dict[date, Decimal]]]:
    periods: list[date] = []
    seen: set[date] = set()
    groups: dict[str, dict[date, Decimal]] = {}
    for point in points:
        if point.period not in seen:
            seen.add(point.period)
            periods.append(point.period)
        groups.setdefault(point.group, {})[point.period] = point.value
    return sorted(periods), groups


def _totals(points: Sequence[SeriesPoint]) -> tuple[list[date], list[Decimal]]:
    periods, groups = _group_series(points)
    return periods, [
        sum((series.get(period, Decimal(0)) for series in groups.values()), Decimal(0)) for period in periods
    ]


def sales_over_time_figure(
    points: Sequence[SeriesPoint],
    comparison_points: Sequence[SeriesPoint] | None,
    fmt: NumberFormat,
    *,
    comparison_label: str = "Comparison period",
) -> dict:
    """Net sales per bucket, one line per channel, and the comparison period's total overlaid (dashed),
    bucket by bucket (the n-th bucket of the comparison is drawn at the n-th bucket of the range)."""
    periods, groups = _group_series(points)
    x = [period.isoformat() for period in periods]
    data = []
    for group in sorted(groups, key=lambda g: (g != "offline", g)):
        series = groups[group]
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": CHANNEL_LABELS.get(group, group),
                "x": x,
                "y": [_float(series.get(period, Decimal(0))) for period in periods],
                "line": {"color": CHANNEL_COLOURS.get(group)},
                "stackgroup": "sales",
                "hovertemplate": f"%{{x}}<br>{fmt.hover('y')}<extra>%{{fullData.name}}</extra>",
            }
        )
    if comparison_points:
        comparison_periods, totals = _totals(comparison_points)
        shown = min(len(comparison_periods), len(periods))
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"{comparison_label} (total)",
                "x": x[:shown],
                "y": [_float(total) for total in totals[:shown]],
                "customdata": [period.isoformat() for period in comparison_periods[:shown]],
                "line": {"color": COMPARISON_COLOUR, "dash": "dash", "width": 2},
                "hovertemplate": f"%{{customdata}}<br>{fmt.hover('y')}<extra>%{{fullData.name}}</extra>",
            }
        )
    return {"data": data, "layout": _layout(fmt, xaxis={"type": "date"}, yaxis={"rangemode": "tozero"})}


def sales_over_time_table(points: Sequence[SeriesPoint], comparison_points: Sequence[SeriesPoint] | None) -> Table:
    periods, groups = _group_series(points)
    channels = [group for group in ("online", "offline") if group in groups] + sorted(
        group for group in groups if group not in ("online", "offline")
    )
    columns = [Column("period", "Period", "date")]
    columns += [Column(channel, f"{CHANNEL_LABELS.get(channel, channel)} net sales", "money") for channel in channels]
    columns.append(Column("total", "Net sales", "money"))
    comparison_periods: list[date] = []
    comparison_totals: list[Decimal] = []
    if comparison_points is not None:
        comparison_periods, comparison_totals = _totals(comparison_points)
        columns += [
            Column("comparison_period", "Comparison period", "date"),
            Column("comparison", "Comparison net sales", "money"),
        ]
    rows = []
    for index, period in enumerate(periods):
        values = [groups[channel].get(period, Decimal(0)) for channel in channels]
        row = [period, *values, sum(values, Decimal(0))]
        if comparison_points is not None:
            has_comparison = index < len(comparison_periods)
            row += [
                comparison_periods[index] if has_comparison else None,
                comparison_totals[index] if has_comparison else None,
            ]
        rows.append(tuple(row))
    return Table(tuple(columns), rows)


def _channel_split(kpis: Kpis) -> list[tuple[str, Decimal]]:
    return [("online", kpis.online_sales), ("offline", kpis.net_sales - kpis.online_sales)]


def channel_mix_figure(kpis: Kpis, fmt: NumberFormat) -> dict:
    split = _channel_split(kpis)
    return {
        "data": [
            {
                "type": "pie",
                "hole": 0.55,
                "sort": False,
                "labels": [CHANNEL_LABELS[channel] for channel, _ in split],
                "values": [_float(max(value, Decimal(0))) for _, value in split],
                "marker": {"colors": [CHANNEL_COLOURS[channel] for channel, _ in split]},
                "texttemplate": "%{percent:.1%}",
                "hovertemplate": f"%{{label}}<br>{fmt.hover('value')}<extra></extra>",
            }
        ],
        "layout": _layout(fmt, showlegend=True),
    }


def channel_mix_table(kpis: Kpis) -> Table:
    rows = []
    for channel, value in _channel_split(kpis):
        share = value / kpis.net_sales if kpis.net_sales else None
        rows.append((CHANNEL_LABELS[channel], value, share))
    return Table(
        (Column("channel", "Channel"), Column("net_sales", "Net sales", "money"), Column("share", "Share", "percent")),
        rows,
    )


def store_leaderboard_figure(rows: Sequence[StoreRow], fmt: NumberFormat, *, size: int = LEADERBOARD_SIZE) -> dict:
    """The top stores by net sales, biggest on top; the comparison period as a marker on each bar."""
    top = list(rows[:size])[::-1]
    labels = [f"{row.code} · {row.name}" for row in top]
    data = [
        {
            "type": "bar",
            "orientation": "h",
            "name": "Net sales",
            "y": labels,
            "x": [_float(row.net_sales) for row in top],
            "marker": {"color": CHANNEL_COLOURS["offline"]},
            "hovertemplate": f"%{{y}}<br>{fmt.hover('x')}<extra></extra>",
        }
    ]
    if any(row.comparison_net_sales is not None for row in top):
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": "Comparison period",
                "y": labels,
                "x": [_float(row.comparison_net_sales) for row in top],
                "marker": {"symbol": "line-ns-open", "size": 18, "color": "#222", "line": {"width": 2}},
                "hovertemplate": f"%{{y}}<br>{fmt.hover('x')}<extra>Comparison</extra>",
            }
        )
    height = max(260, 28 * len(top) + 90)
    return {"data": data, "layout": _layout(fmt, height=height, margin={"l": 200, "r": 20, "t": 10, "b": 40})}


def store_table(rows: Sequence[StoreRow]) -> Table:
    columns = (
        Column("code", "Store"),
        Column("name", "Name"),
        Column("region", "Region"),
        Column("net_sales", "Net sales", "money"),
        Column("gross_sales", "Gross sales", "money"),
        Column("refunds", "Refunds", "money"),
        Column("orders", "Orders", "int"),
        Column("units", "Units", "decimal"),
        Column("average_order_value", "Average order value", "money"),
        Column("online_fulfilled_sales", "Online orders fulfilled", "money"),
        Column("comparison_net_sales", "Comparison net sales", "money"),
        Column("change", "Change", "change"),
    )
    return Table(
        columns,
        [
            (
                row.code,
                row.name,
                row.region,
                row.net_sales,
                row.gross_sales,
                row.refunds,
                row.orders,
                row.units,
                row.average_order_value,
                row.online_fulfilled_sales,
                row.comparison_net_sales,
                row.change,
            )
            for row in rows
        ],
    )


def hour_heatmap_figure(cells: Sequence[HourCell], fmt: NumberFormat) -> dict:
    """Net sales by the store's local hour (columns) and weekday (rows, Monday on top)."""
    z: list[list[float | None]] = [[None] * 24 for _ in WEEKDAYS]
    for cell in cells:
        z[cell.weekday][cell.hour] = _float(cell.net_sales)
    return {
        "data": [
            {
                "type": "heatmap",
                "z": z,
                "x": [f"{hour:02d}:00" for hour in range(24)],
                "y": list(WEEKDAYS),
                "colorscale": [[0, "#f4f7fb"], [1, "#1d5fb4"]],
                "hoverongaps": False,
                "xgap": 1,
                "ygap": 1,
                "hovertemplate": f"%{{y}} %{{x}}<br>{fmt.hover('z')}<extra></extra>",
            }
        ],
        "layout": _layout(fmt, yaxis={"autorange": "reversed"}, margin={"l": 90, "r": 20, "t": 10, "b": 40}),
    }


def hour_table(cells: Sequence[HourCell]) -> Table:
    ordered = sorted((cell for cell in cells if cell.orders or cell.net_sales), key=lambda c: (c.weekday, c.hour))
    return Table(
        (
            Column("weekday", "Weekday"),
            Column("hour", "Hour (local)"),
            Column("net_sales", "Net sales", "money"),
            Column("orders", "Orders", "int"),
        ),
        [(WEEKDAYS[cell.weekday], f"{cell.hour:02d}:00", cell.net_sales, cell.orders) for cell in ordered],
    )


def _split_bars(labels: list[str], online: list[Decimal], offline: list[Decimal], fmt: NumberFormat) -> list[dict]:
    return [
        {
            "type": "bar",
            "orientation": "h",
            "name": CHANNEL_LABELS[channel],
            "y": labels,
            "x": [_float(value) for value in values],
            "marker": {"color": CHANNEL_COLOURS[channel]},
            "hovertemplate": f"%{{y}}<br>{fmt.hover('x')}<extra>%{{fullData.name}}</extra>",
        }
        for channel, values in (("offline", offline), ("online", online))
    ]


def top_products_figure(rows: Sequence[ProductRow], fmt: NumberFormat) -> dict:
    top = list(rows)[::-1]
    labels = [f"{row.name} ({row.sku})" for row in top]
    data = _split_bars(labels, [row.online_net_sales for row in top], [row.offline_net_sales for row in top], fmt)
    height = max(260, 28 * len(top) + 90)
    return {
        "data": data,
        "layout": _layout(fmt, barmode="stack", height=height, margin={"l": 220, "r": 20, "t": 10, "b": 40}),
    }


def product_table(rows: Sequence[ProductRow]) -> Table:
    columns = (
        Column("rank", "Rank", "int"),
        Column("sku", "SKU"),
        Column("name", "Product"),
        Column("category", "Category"),
        Column("units", "Units", "decimal"),
        Column("gross_sales", "Gross sales", "money"),
        Column("discounts", "Discounts", "money"),
        Column("refunds", "Refunds", "money"),
        Column("net_sales", "Net sales", "money"),
        Column("online_net_sales", "Online", "money"),
        Column("offline_net_sales", "In store", "money"),
    )
    return Table(
        columns,
        [
            (
                row.rank,
                row.sku,
                row.name,
                row.category,
                row.units,
                row.gross_sales,
                row.discounts,
                row.refunds,
                row.net_sales,
                row.online_net_sales,
                row.offline_net_sales,
            )
            for row in rows
        ],
    )


def categories_figure(rows: Sequence[CategoryRow], fmt: NumberFormat) -> dict:
    ordered = list(rows)[::-1]
    labels = [row.category or "Uncategorised" for row in ordered]
    data = _split_bars(
        labels, [row.online_net_sales for row in ordered], [row.offline_net_sales for row in ordered], fmt
    )
    height = max(260, 28 * len(ordered) + 90)
    return {
        "data": data,
        "layout": _layout(fmt, barmode="stack", height=height, margin={"l": 160, "r": 20, "t": 10, "b": 40}),
    }


def category_table(rows: Sequence[CategoryRow]) -> Table:
    columns = (
        Column("category", "Category"),
        Column("net_sales", "Net sales", "money"),
        Column("online_net_sales", "Online", "money"),
        Column("offline_net_sales", "In store", "money"),
        Column("units", "Units", "decimal"),
    )
    return Table(
        columns,
        [
            (row.category or "Uncategorised", row.net_sales, row.online_net_sales, row.offline_net_sales, row.units)
            for row in rows
        ],
    )


def _behaviour_rows(rows: Sequence[BehaviourRow]) -> list[BehaviourRow]:
    by_key = {row.behaviour: row for row in rows}
    return [by_key.get(key) or BehaviourRow(key, 0, Decimal(0)) for key in BEHAVIOUR_ORDER]


def customer_behaviour_figure(rows: Sequence[BehaviourRow], fmt: NumberFormat) -> dict:
    """Customers by channel behaviour (bars, left axis) and their net sales (diamonds, right axis)."""
    ordered = _behaviour_rows(rows)
    labels = [BEHAVIOUR_LABELS[row.behaviour] for row in ordered]
    return {
        "data": [
            {
                "type": "bar",
                "name": "Customers",
                "x": labels,
                "y": [row.customers for row in ordered],
                "marker": {"color": ["#1d5fb4", "#d9822b", "#2f8f5b"]},
                "hovertemplate": "%{x}<br>%{y:,} customers<extra></extra>",
            },
            {
                "type": "scatter",
                "mode": "markers",
                "name": "Net sales",
                "x": labels,
                "y": [_float(row.net_sales) for row in ordered],
                "yaxis": "y2",
                "marker": {"symbol": "diamond", "size": 14, "color": "#222"},
                "hovertemplate": f"%{{x}}<br>{fmt.hover('y')}<extra>Net sales</extra>",
            },
        ],
        "layout": _layout(
            fmt,
            margin={"l": 60, "r": 70, "t": 20, "b": 50},
            yaxis={"title": {"text": "Customers"}, "rangemode": "tozero"},
            yaxis2={"title": {"text": "Net sales"}, "overlaying": "y", "side": "right", "rangemode": "tozero"},
        ),
    }


def customer_behaviour_table(rows: Sequence[BehaviourRow]) -> Table:
    ordered = _behaviour_rows(rows)
    columns = (
        Column("behaviour", "Customers who bought"),
        Column("customers", "Customers", "int"),
        Column("net_sales", "Net sales", "money"),
        Column("per_customer", "Net sales per customer", "money"),
    )
    return Table(
        columns,
        [
            (
                BEHAVIOUR_LABELS[row.behaviour],
                row.customers,
                row.net_sales,
                (row.net_sales / row.customers).quantize(Decimal("0.01")) if row.customers else None,
            )
            for row in ordered
        ],
    )


def new_vs_returning_figure(points: Sequence[NewReturningPoint], fmt: NumberFormat) -> dict:
    x = [point.period.isoformat() for point in points]
    return {
        "data": [
            {
                "type": "bar",
                "name": "New",
                "x": x,
                "y": [point.new_customers for point in points],
                "marker": {"color": "#2f8f5b"},
                "hovertemplate": "%{x}<br>%{y:,} new<extra></extra>",
            },
            {
                "type": "bar",
                "name": "Returning",
                "x": x,
                "y": [point.returning_customers for point in points],
                "marker": {"color": "#1d5fb4"},
                "hovertemplate": "%{x}<br>%{y:,} returning<extra></extra>",
            },
        ],
        "layout": _layout(fmt, barmode="stack", xaxis={"type": "date"}),
    }


def new_vs_returning_table(points: Sequence[NewReturningPoint]) -> Table:
    columns = (
        Column("period", "Period", "date"),
        Column("new_customers", "New customers", "int"),
        Column("returning_customers", "Returning customers", "int"),
    )
    return Table(columns, [(point.period, point.new_customers, point.returning_customers) for point in points])


def store_map_figure(rows: Sequence[StoreRow], fmt: NumberFormat) -> dict:
    """Stores on a world map (country outlines from the locally served topojson), sized by net sales and
    zoomed on the stores. Stores without coordinates are left out (the table lists them)."""
    located = [row for row in rows if row.latitude is not None and row.longitude is not None]
    biggest = max((row.net_sales for row in located), default=Decimal(0))
    sizes = [8 + 32 * float(row.net_sales / biggest) if biggest > 0 and row.net_sales > 0 else 8 for row in located]
    return {
        "data": [
            {
                "type": "scattergeo",
                "mode": "markers",
                "name": "Stores",
                "lat": [float(row.latitude) for row in located],
                "lon": [float(row.longitude) for row in located],
                "text": [f"{row.code} · {row.name}" for row in located],
                "customdata": [_float(row.net_sales) for row in located],
                "marker": {
                    "size": sizes,
                    "color": CHANNEL_COLOURS["offline"],
                    "opacity": 0.8,
                    "line": {"width": 1, "color": "#fff"},
                },
                "hovertemplate": f"%{{text}}<br>{fmt.hover('customdata')}<extra></extra>",
            }
        ],
        "layout": _layout(
            fmt,
            margin={"l": 0, "r": 0, "t": 0, "b": 0},
            geo={
                "scope": "world",
                "resolution": 110,
                "projection": {"type": "natural earth"},
                "fitbounds": "locations" if located else False,
                "showcountries": True,
                "countrycolor": "#c9ced6",
                "showland": True,
                "landcolor": "#f1f3f5",
                "showocean": False,
                "bgcolor": "rgba(0,0,0,0)",
            },
        ),
    }


def store_map_table(rows: Sequence[StoreRow]) -> Table:
    columns = (
        Column("code", "Store"),
        Column("name", "Name"),
        Column("latitude", "Latitude"),
        Column("longitude", "Longitude"),
        Column("net_sales", "Net sales", "money"),
    )
    return Table(columns, [(row.code, row.name, row.latitude, row.longitude, row.net_sales) for row in rows])


def product_channel_table(rows: Sequence) -> Table:
    """``analytics.drilldowns.ProductChannelRow``s: one product's figures per channel."""
    columns = (
        Column("channel", "Channel"),
        Column("gross_sales", "Gross sales", "money"),
        Column("discounts", "Discounts", "money"),
        Column("refunds", "Refunds", "money"),
        Column("net_sales", "Net sales", "money"),
        Column("units", "Units", "decimal"),
        Column("orders", "Orders", "int"),
    )
    return Table(
        columns,
        [
            (
                CHANNEL_LABELS[row.channel],
                row.gross_sales,
                row.discounts,
                row.refunds,
                row.net_sales,
                row.units,
                row.orders,
            )
            for row in rows
        ],
    )


def product_store_table(rows: Sequence) -> Table:
    """``analytics.drilldowns.ProductStoreRow``s: one product's net sales per store."""
    columns = (
        Column("code", "Store"),
        Column("name", "Name"),
        Column("offline_net_sales", "In store", "money"),
        Column("online_net_sales", "Online (fulfilled by the store)", "money"),
        Column("net_sales", "Net sales", "money"),
        Column("units", "Units", "decimal"),
    )
    return Table(
        columns,
        [
            (row.code or "—", row.name, row.offline_net_sales, row.online_net_sales, row.net_sales, row.units)
            for row in rows
        ],
    )


def kpi_table(summary: Summary) -> Table:
    """Every KPI of the cards, raw: the range, the comparison period (empty without one) and the change."""
    columns = (
        Column("metric", "Metric"),
        Column("value", "Value", "decimal"),
        Column("comparison", "Comparison", "decimal"),
        Column("change", "Change", "change"),
    )
    rows = []
    for key, label, kind, _, _ in KPI_SPECS:
        value = getattr(summary.current, key)
        previous = getattr(summary.comparison, key) if summary.comparison is not None else None
        change = None if kind == "share" else _relative_change(value, previous)
        rows.append((label, value, previous, change))
    return Table(columns, rows)


def table_html(table: Table, rows: list[list[DisplayCell]], *, caption: str = "", link_query: str = "") -> str:
    """The HTML ``<table>`` of formatted rows, built in Python: a template loop over thousands of cells costs
    tens of milliseconds per dashboard request. Every text is escaped; ``link_query`` is appended to links."""
    suffix = f"?{link_query}" if link_query else ""
    head = "".join(
        f'<th scope="col" class="num">{escape_html(column.label)}</th>'
        if column.numeric
        else f'<th scope="col">{escape_html(column.label)}</th>'
        for column in table.columns
    )
    body = []
    for row in rows:
        cells = []
        for cell in row:
            # Formatted numbers hold digits, separators and currency symbols only: nothing to escape.
            text = cell.text if cell.numeric else escape_html(cell.text)
            if cell.url:
                text = f'<a href="{escape_html(cell.url + suffix)}">{text}</a>'
            cells.append(f'<td class="num">{text}</td>' if cell.numeric else f"<td>{text}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    if not body:
        body.append(f'<tr><td colspan="{len(table.columns)}">No rows.</td></tr>')
    caption_html = f'<caption class="visually-hidden">{escape_html(caption)}</caption>' if caption else ""
    return mark_safe(  # noqa: S308 - text cells, labels and links are escaped; numeric cells are formatted numbers
        f'<table class="striped">{caption_html}<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    )
