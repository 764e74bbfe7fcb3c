"""Figure builders and tables of ``analytics.charts``, from hand-built selector results (no database).

Every figure is also loaded into ``plotly.graph_objects.Figure``, which validates each property: the builders
write plain dicts for speed, and this is what proves they are valid Plotly figures.
"""

from __future__ import annotations

import csv
import io
import json
import pickle
from datetime import date
from decimal import Decimal

import plotly.graph_objects as go
import pytest
from babel.core import Locale

from analytics import charts
from analytics.charts import Column, NumberFormat, Table
from analytics.filters import Compare, Filters
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

D = Decimal
EUR_FR = NumberFormat("EUR", Locale.parse("fr_FR"))
USD_US = NumberFormat("USD", Locale.parse("en_US"))
NNBSP, NBSP = "\u202f", "\xa0"


def kpis(**overrides) -> Kpis:
    values = dict(
        net_sales=D("1000.00"),
        gross_sales=D("1200.00"),
        discounts=D("100.00"),
        refunds=D("100.00"),
        orders=20,
        average_order_value=D("50.00"),
        units=D("40"),
        units_per_order=D("2"),
        customers=10,
        returning_customers=4,
        returning_share=D("0.4"),
        new_customers=6,
        omnichannel_customers=2,
        omnichannel_sales=D("300.00"),
        omnichannel_sales_share=D("0.3"),
        online_sales=D("250.00"),
        online_share=D("0.25"),
    )
    values.update(overrides)
    return Kpis(**values)


def store_row(code: str, net: str, *, lat=None, lng=None, comparison=None, name=None) -> StoreRow:
    return StoreRow(
        store_id=hash(code) % 1000,
        code=code,
        name=name or f"Store {code}",
        region="Île-de-France",
        latitude=lat,
        longitude=lng,
        net_sales=D(net),
        gross_sales=D(net),
        refunds=D(0),
        orders=1,
        units=D(1),
        average_order_value=D(net),
        online_fulfilled_sales=D(0),
        comparison_net_sales=None if comparison is None else D(comparison),
        change=None if comparison is None else (D(net) - D(comparison)) / D(comparison),
    )


def valid(figure: dict) -> go.Figure:
    return go.Figure(figure)  # raises on any invalid property


# --- formatting -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timezone", "locale"),
    [
        pytest.param("Europe/Paris", "fr_FR", id="paris"),
        pytest.param("America/New_York", "en_US", id="new-york"),
        pytest.param("Europe/London", "en_GB", id="london"),
        pytest.param("Europe/Berlin", "de_DE", id="berlin"),
        pytest.param("UTC", "en_US", id="utc-no-country"),
    ],
)
def test_merchant_locale_follows_the_time_zones_country(timezone, locale):
    assert str(charts.merchant_locale(timezone)) == locale


def test_numbers_are_written_in_the_merchants_currency_and_locale():
    assert EUR_FR.money(D("1234.5")) == f"1{NNBSP}234,50{NBSP}€"
    assert USD_US.money(D("-1234.5")) == "-$1,234.50"
    assert USD_US.money(None) == "—"
    assert EUR_FR.integer(12345) == f"12{NNBSP}345"
    assert USD_US.decimal(D("2.5")) == "2.5"
    assert USD_US.percent(D("0.1234")) == "12.3%"
    assert USD_US.change(D("0.05")) == "+5.0%"
    assert USD_US.change(D("-0.125")) == "-12.5%"
    assert USD_US.points(D("0.015")) == "+1.5 pt"
    assert USD_US.day(date(2024, 5, 4)) == "May 4, 2024"
    assert EUR_FR.day(date(2024, 5, 4)) == "4 May 2024"  # English, ordered the French way
    assert EUR_FR.plotly_separators == f",{NNBSP}"
    assert USD_US.plotly_separators == ".,"
    assert EUR_FR.hover("y") == "%{y:,.2f} €"
    assert USD_US.hover("x") == "$%{x:,.2f}"


def test_choose_interval_days_then_weeks_then_months():
    def filters(days: int) -> Filters:
        start = date(2024, 1, 1)
        return Filters(merchant_id=1, date_from=start, date_to=date.fromordinal(start.toordinal() + days - 1))

    assert [charts.choose_interval(filters(n)) for n in (1, 62, 63, 366, 367, 730)] == [
        "day",
        "day",
        "week",
        "week",
        "month",
        "month",
    ]


# --- KPI cards ------------------------------------------------------------------------------


def test_kpi_cards_show_value_comparison_and_whether_the_change_is_good_news():
    summary = Summary(
        current=kpis(),
        comparison=kpis(net_sales=D("800.00"), refunds=D("50.00"), orders=20, online_share=D("0.2"), customers=0),
        date_from=date(2024, 5, 1),
        date_to=date(2024, 5, 31),
        comparison_from=date(2024, 3, 31),
        comparison_to=date(2024, 4, 30),
    )

    cards = {card.key: card for card in charts.kpi_cards(summary, USD_US)}

    assert list(cards) == [spec[0] for spec in charts.KPI_SPECS]
    assert cards["net_sales"] == charts.KpiCard(
        "net_sales", "Net sales", "$1,000.00", "$800.00", "+25.0%", "up", True, "Gross sales − discounts − refunds"
    )
    # refunds doubled: up, and bad news
    assert (cards["refunds"].delta, cards["refunds"].trend, cards["refunds"].good) == ("+100.0%", "up", False)
    assert (cards["orders"].value, cards["orders"].delta, cards["orders"].trend) == ("20", "+0.0%", "flat")
    # shares compare in percentage points
    assert (cards["online_share"].value, cards["online_share"].comparison, cards["online_share"].delta) == (
        "25.0%",
        "20.0%",
        "+5.0 pt",
    )
    # no base to compare with: no delta, no verdict
    assert (cards["customers"].delta, cards["customers"].trend, cards["customers"].good) == (None, "flat", None)


def test_kpi_cards_without_comparison_have_no_trend():
    summary = Summary(kpis(average_order_value=None), None, date(2024, 5, 1), date(2024, 5, 31), None, None)

    cards = {card.key: card for card in charts.kpi_cards(summary, USD_US)}

    assert {(card.trend, card.delta, card.comparison) for card in cards.values()} == {("", None, None)}
    assert cards["average_order_value"].value == "—"


def test_kpi_table_has_raw_values_and_changes():
    summary = Summary(kpis(), kpis(net_sales=D("800.00")), date(2024, 5, 1), date(2024, 5, 31), None, None)

    table = charts.kpi_table(summary)

    assert table.rows[0] == ("Net sales", D("1000.00"), D("800.00"), D("0.25"))
    assert table.rows[-1] == ("Online share", D("0.25"), D("0.25"), None)


# --- time series ----------------------------------------------------------------------------

SERIES = [
    SeriesPoint(date(2024, 5, 1), "offline", D("100.00")),
    SeriesPoint(date(2024, 5, 1), "online", D("20.50")),
    SeriesPoint(date(2024, 5, 2), "offline", D("0")),
    SeriesPoint(date(2024, 5, 2), "online", D("30.00")),
]
COMPARISON = [SeriesPoint(date(2024, 4, 29), "all", D("90.00")), SeriesPoint(date(2024, 4, 30), "all", D("10.00"))]


def test_sales_over_time_draws_each_channel_and_the_comparison_bucket_by_bucket():
    figure = charts.sales_over_time_figure(SERIES, COMPARISON, USD_US, comparison_label="Previous period")

    valid(figure)
    names = [trace["name"] for trace in figure["data"]]
    assert names == ["In store", "Online", "Previous period (total)"]
    assert figure["data"][0]["x"] == ["2024-05-01", "2024-05-02"]
    assert figure["data"][0]["y"] == [100.0, 0.0]
    assert figure["data"][1]["y"] == [20.5, 30.0]
    comparison = figure["data"][2]
    assert (comparison["x"], comparison["y"], comparison["customdata"]) == (
        ["2024-05-01", "2024-05-02"],
        [90.0, 10.0],
        ["2024-04-29", "2024-04-30"],
    )
    assert comparison["line"]["dash"] == "dash"
    assert figure["layout"]["separators"] == ".,"


def test_sales_over_time_table_has_channels_total_and_comparison():
    table = charts.sales_over_time_table(SERIES, COMPARISON)

    assert [column.label for column in table.columns] == [
        "Period",
        "Online net sales",
        "In store net sales",
        "Net sales",
        "Comparison period",
        "Comparison net sales",
    ]
    assert table.rows == [
        (date(2024, 5, 1), D("20.50"), D("100.00"), D("120.50"), date(2024, 4, 29), D("90.00")),
        (date(2024, 5, 2), D("30.00"), D("0"), D("30.00"), date(2024, 4, 30), D("10.00")),
    ]
    assert [column.key for column in charts.sales_over_time_table(SERIES, None).columns] == [
        "period",
        "online",
        "offline",
        "total",
    ]


def test_table_csv_keeps_raw_values_and_defuses_formulas():
    table = Table(
        (Column("name", "Name"), Column("net", "Net", "money"), Column("day", "Day", "date")),
        [
            ("=HYPERLINK(1)", D("-12.50"), date(2024, 5, 1)),
            ("Plain", None, None),
        ],
    )

    text = io.StringIO()
    csv.writer(text).writerows(table.csv_rows())

    assert list(csv.reader(io.StringIO(text.getvalue()))) == [
        ["Name", "Net", "Day"],
        ["'=HYPERLINK(1)", "-12.50", "2024-05-01"],
        ["Plain", "", ""],
    ]


def test_display_rows_format_and_link_the_first_cell():
    table = Table((Column("code", "Store"), Column("net", "Net", "money")), [("PAR", D("1234.5")), ("LYO", None)])

    rows = table.display_rows(EUR_FR, ["/m/a/analytics/stores/PAR/", None])

    assert rows == [
        [
            charts.DisplayCell("PAR", False, "/m/a/analytics/stores/PAR/"),
            charts.DisplayCell(f"1{NNBSP}234,50{NBSP}€", True),
        ],
        [charts.DisplayCell("LYO", False), charts.DisplayCell("—", True)],
    ]


def test_packed_rows_survive_the_cache_and_unpack_on_demand():
    rows = Table((Column("code", "Store"),), [("PAR",), ("LYO",)]).display_rows(EUR_FR, ["/p/", None])

    restored = pickle.loads(pickle.dumps(charts.PackedRows(rows)))  # noqa: S301 - our own bytes

    assert len(restored) == 2
    assert restored._rows is None  # the count needs no unpacking
    assert restored == charts.PackedRows(rows)
    assert restored == rows
    assert restored[0][0].url == "/p/"
    assert [row[0].text for row in restored] == ["PAR", "LYO"]


# --- other charts ---------------------------------------------------------------------------


def test_channel_mix_splits_net_sales_online_and_in_store():
    figure = charts.channel_mix_figure(kpis(), USD_US)

    valid(figure)
    assert (figure["data"][0]["labels"], figure["data"][0]["values"]) == (["Online", "In store"], [250.0, 750.0])
    assert charts.channel_mix_table(kpis()).rows == [
        ("Online", D("250.00"), D("0.25")),
        ("In store", D("750.00"), D("0.75")),
    ]
    assert charts.channel_mix_table(kpis(net_sales=D(0), online_sales=D(0))).rows[0] == ("Online", D(0), None)


def test_store_leaderboard_puts_the_best_store_on_top_with_the_comparison_mark():
    rows = [store_row(f"S{i:02d}", str(100 - i), comparison="50") for i in range(20)]

    figure = charts.store_leaderboard_figure(rows, USD_US)

    valid(figure)
    bars, marks = figure["data"]
    assert len(bars["y"]) == charts.LEADERBOARD_SIZE
    assert bars["y"][-1] == "S00 · Store S00"  # plotly draws the last category on top
    assert bars["x"][-1] == 100.0
    assert marks["x"] == [50.0] * charts.LEADERBOARD_SIZE
    table = charts.store_table(rows[:1])
    assert table.rows == [
        ("S00", "Store S00", "Île-de-France", D(100), D(100), D(0), 1, D(1), D(100), D(0), D(50), D(1)),
    ]


def test_store_leaderboard_without_comparison_has_only_bars():
    assert len(charts.store_leaderboard_figure([store_row("A", "10")], USD_US)["data"]) == 1


def test_hour_heatmap_places_each_cell_at_its_weekday_and_hour():
    cells = [HourCell(0, 9, D("12.00"), 1), HourCell(6, 23, D("5.50"), 2)]

    figure = charts.hour_heatmap_figure(cells, USD_US)

    valid(figure)
    z = figure["data"][0]["z"]
    assert (len(z), len(z[0])) == (7, 24)
    assert (z[0][9], z[6][23], z[3][12]) == (12.0, 5.5, None)
    assert figure["data"][0]["y"][0] == "Monday"
    assert charts.hour_table([*reversed(cells), HourCell(2, 3, D(0), 0)]).rows == [
        ("Monday", "09:00", D("12.00"), 1),
        ("Sunday", "23:00", D("5.50"), 2),
    ]


def test_top_products_and_categories_split_online_and_in_store():
    products = [
        ProductRow(1, "TEE", "Tee", "Tops", D(3), D(60), D(0), D(0), D(60), D(20), D(40), 1),
        ProductRow(2, "CAP", "Cap", "", D(1), D(10), D(0), D(0), D(10), D(10), D(0), 2),
    ]
    figure = charts.top_products_figure(products, USD_US)
    valid(figure)
    in_store, online = figure["data"]
    assert (in_store["name"], in_store["y"], in_store["x"]) == ("In store", ["Cap (CAP)", "Tee (TEE)"], [0.0, 40.0])
    assert online["x"] == [10.0, 20.0]
    assert figure["layout"]["barmode"] == "stack"
    assert charts.product_table(products).rows[0] == (
        1,
        "TEE",
        "Tee",
        "Tops",
        D(3),
        D(60),
        D(0),
        D(0),
        D(60),
        D(20),
        D(40),
    )

    categories = [CategoryRow("Tops", D(20), D(40), D(60), D(3)), CategoryRow("", D(10), D(0), D(10), D(1))]
    figure = charts.categories_figure(categories, USD_US)
    valid(figure)
    assert figure["data"][0]["y"] == ["Uncategorised", "Tops"]
    assert charts.category_table(categories).rows == [
        ("Tops", D(60), D(20), D(40), D(3)),
        ("Uncategorised", D(10), D(10), D(0), D(1)),
    ]


def test_customer_behaviour_always_shows_the_three_behaviours():
    rows = [BehaviourRow("both", 2, D("300.00")), BehaviourRow("online_only", 3, D("100.00"))]

    figure = charts.customer_behaviour_figure(rows, USD_US)

    valid(figure)
    assert figure["data"][0]["x"] == ["Online only", "In store only", "Both (omnichannel)"]
    assert figure["data"][0]["y"] == [3, 0, 2]
    assert figure["data"][1]["y"] == [100.0, 0.0, 300.0]
    assert charts.customer_behaviour_table(rows).rows == [
        ("Online only", 3, D("100.00"), D("33.33")),
        ("In store only", 0, D(0), None),
        ("Both (omnichannel)", 2, D("300.00"), D("150.00")),
    ]


def test_new_vs_returning_stacks_per_period():
    points = [NewReturningPoint(date(2024, 5, 1), 3, 1), NewReturningPoint(date(2024, 5, 2), 0, 2)]

    figure = charts.new_vs_returning_figure(points, USD_US)

    valid(figure)
    assert [(t["name"], t["y"]) for t in figure["data"]] == [("New", [3, 0]), ("Returning", [1, 2])]
    assert charts.new_vs_returning_table(points).rows == [(date(2024, 5, 1), 3, 1), (date(2024, 5, 2), 0, 2)]


def test_store_map_places_located_stores_sized_by_sales_without_tiles():
    rows = [
        store_row("PAR", "200", lat=D("48.8566"), lng=D("2.3522")),
        store_row("LYO", "50", lat=D("45.7640"), lng=D("4.8357")),
        store_row("WEB", "10"),  # no coordinates
    ]

    figure = charts.store_map_figure(rows, USD_US)

    valid(figure)
    trace = figure["data"][0]
    assert (trace["type"], trace["lat"], trace["lon"]) == ("scattergeo", [48.8566, 45.764], [2.3522, 4.8357])
    assert trace["marker"]["size"] == [40.0, 16.0]
    geo = figure["layout"]["geo"]
    assert (geo["resolution"], geo["fitbounds"]) == (110, "locations")
    assert not {"mapbox", "map"} & set(figure["layout"])  # no tile layers at all
    assert [row[0] for row in charts.store_map_table(rows).rows] == ["PAR", "LYO", "WEB"]


def test_figure_json_cannot_close_its_script_tag():
    text = charts.figure_json({"data": [{"type": "bar", "name": "</script><script>alert(1)</script>"}]})

    assert "</script>" not in text
    assert json.loads(text)["data"][0]["name"] == "</script><script>alert(1)</script>"


def test_filters_comparison_label_values_exist_for_every_compare_mode():
    from analytics.forms import COMPARE_LABELS

    assert set(COMPARE_LABELS) == set(Compare)


VALUES = [D(0), D("0.004"), D("1"), D("-1"), D("2.5"), D("1.335"), D("12.345"), D("-1234.5"), D("1234567.891")]


@pytest.mark.parametrize(
    ("locale", "currency"),
    [
        pytest.param("fr_FR", "EUR", id="fr-eur"),
        pytest.param("en_US", "USD", id="us-usd"),
        pytest.param("de_DE", "EUR", id="de-eur"),
        pytest.param("de_CH", "CHF", id="ch-chf"),
        pytest.param("en_GB", "GBP", id="gb-gbp"),
        pytest.param("ja_JP", "JPY", id="jp-yen-no-cents"),
        pytest.param("hi_IN", "INR", id="in-lakh-groups-fallback"),
        pytest.param("ar_EG", "EGP", id="eg-arabic-digits-fallback"),
    ],
)
def test_fast_number_formatting_writes_exactly_what_babel_writes(locale, currency):
    from babel.numbers import format_currency, format_decimal, format_percent

    fmt = NumberFormat(currency, Locale.parse(locale))

    for value in VALUES:
        assert fmt.money(value) == format_currency(value, currency, locale=locale), value
        assert fmt.integer(value.quantize(D(1))) == format_decimal(value.quantize(D(1)), "#,##0", locale=locale)
        assert fmt.decimal(value) == format_decimal(value, "#,##0.##", locale=locale), value
        assert fmt.percent(value / 100) == format_percent(value / 100, "#,##0.0%", locale=locale), value


def test_the_fast_path_serves_the_common_locales_and_steps_aside_for_the_others():
    assert [
        NumberFormat(c, Locale.parse(loc))._fast is not None for loc, c in (("fr_FR", "EUR"), ("en_US", "USD"))
    ] == [
        True,
        True,
    ]
    assert [NumberFormat(c, Locale.parse(loc))._fast for loc, c in (("de_CH", "CHF"), ("hi_IN", "INR"))] == [None, None]


def test_table_html_escapes_text_and_links_the_first_cell():
    table = Table((Column("code", "Store <b>"), Column("net", "Net", "money")), [("<PAR>", D("1.5"))])
    rows = table.display_rows(USD_US, ["/m/a/analytics/stores/PAR/"])

    html = charts.table_html(table, rows, caption="Stores", link_query="from=2024-05-01&to=2024-05-31")

    assert html == (
        '<table class="striped"><caption class="visually-hidden">Stores</caption>'
        '<thead><tr><th scope="col">Store &lt;b&gt;</th><th scope="col" class="num">Net</th></tr></thead>'
        '<tbody><tr><td><a href="/m/a/analytics/stores/PAR/?from=2024-05-01&amp;to=2024-05-31">&lt;PAR&gt;</a></td>'
        '<td class="num">$1.50</td></tr></tbody></table>'
    )
    assert "No rows." in charts.table_html(table, [])
