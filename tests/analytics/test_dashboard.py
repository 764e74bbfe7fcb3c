"""The dashboard page (``merchants:home``), a store's dashboard, the product page and the chart CSVs, end to end:
orders go in through the ingestion service, the rollups are rebuilt by the analytics service, and the pages
must show the exact figures (DESIGN.md, "What the numbers mean").

The world (merchant "alpha", Europe/Paris, EUR → numbers written the French way):
- PAR (Paris) and LYO (Lyon) stores; TEE (Tops, 20.00) and CAP (Accessories, 10.00).
- May 2024: #1 in store at PAR, ann@ buys 2 TEE (40.00); #2 online, ann@ buys 1 CAP (10.00), 5.00 refunded on
  15 May; #3 in store at LYO, anonymous, 1 TEE with 5.00 off (15.00).
- April 2024 (the comparison period of May): #4 online, bob@ buys 1 TEE (20.00).
May: gross 70, discounts 5, refunds 5, net 60, 3 orders, AOV 20, 4 units, 1 customer (ann, new, omnichannel,
45.00 of net sales = 75 %), online 5.00 (8.3 %). April: net 20, 1 order.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from analytics.services import rollups_rebuild
from merchants.models import OnboardingStep
from sales.ingest.service import orders_ingest
from sales.ingest.types import IdentifierInput, LineInput, OrderInput

from ..factories import CategoryFactory, ProductFactory, StoreFactory

pytestmark = pytest.mark.django_db

MAY = "from=2024-05-01&to=2024-05-31"
NBSP, NNBSP = "\xa0", "\u202f"
# Queries of one dashboard request: session, user, membership, (store manager's stores), has-sales check,
# stores and categories of the filter form, the filter parsing (store, region, category lookups), and the
# selectors (each called once): 25 for the owner, 26 for a store manager when written. Bounded here, and
# test_query_count_does_not_grow_with_stores_and_products proves there is no query per store or product.
DASHBOARD_MAX_QUERIES = 30


def euros(amount: str) -> str:
    """How fr_FR writes an amount in euros: "1 234,50 €" (narrow no-break space, no-break space)."""
    whole, cents = amount.split(".")
    groups = f"{int(whole):,}".replace(",", NNBSP)
    return f"{groups},{cents}{NBSP}€"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def email(value: str) -> list[IdentifierInput]:
    return [IdentifierInput(kind="email", value=value)]


@pytest.fixture
def world(merchant):
    return build_world(merchant)


def build_world(merchant) -> dict:
    """The world of this module's docstring, ingested and rolled up (also used by tests/e2e/test_dashboard.py)."""
    merchant.onboarding_step = OnboardingStep.DONE
    merchant.save()
    par = StoreFactory(
        merchant=merchant,
        code="PAR",
        name="Paris Marais",
        region="Île-de-France",
        latitude=Decimal("48.8566"),
        longitude=Decimal("2.3522"),
        timezone="Europe/Paris",
    )
    lyo = StoreFactory(
        merchant=merchant,
        code="LYO",
        name="Lyon Confluence",
        region="Auvergne-Rhône-Alpes",
        latitude=Decimal("45.7640"),
        longitude=Decimal("4.8357"),
        timezone="Europe/Paris",
    )
    tee = ProductFactory(
        merchant=merchant, sku="TEE", name="Linen tee", category=CategoryFactory(merchant=merchant, name="Tops")
    )
    cap = ProductFactory(
        merchant=merchant, sku="CAP", name="Cap", category=CategoryFactory(merchant=merchant, name="Accessories")
    )

    def order(external_id, channel, placed, lines, store=None, identifiers=()):
        return OrderInput(
            source="api",
            external_id=external_id,
            channel=channel,
            placed_at=at(placed),
            currency="EUR",
            store=store,
            lines=lines,
            identifiers=list(identifiers),
        )

    sale = LineInput
    orders = [
        order(
            "1",
            "offline",
            "2024-05-10T10:00:00",
            [sale("TEE", Decimal(2), Decimal("20.00"))],
            "PAR",
            email("ann@example.com"),
        ),
        order(
            "2",
            "online",
            "2024-05-11T18:00:00",
            [
                sale("CAP", Decimal(1), Decimal("10.00")),
                sale(
                    "",
                    Decimal(0),
                    Decimal(0),
                    kind="return",
                    amount=Decimal("5.00"),
                    occurred_at=at("2024-05-15T09:00:00"),
                ),
            ],
            identifiers=email("ann@example.com"),
        ),
        order(
            "3",
            "offline",
            "2024-05-12T09:00:00",
            [sale("TEE", Decimal(1), Decimal("20.00"), discount=Decimal("5.00"))],
            "LYO",
        ),
        order(
            "4",
            "online",
            "2024-04-15T09:00:00",
            [sale("TEE", Decimal(1), Decimal("20.00"))],
            identifiers=email("bob@example.com"),
        ),
    ]
    outcomes = orders_ingest(merchant=merchant, orders=orders)
    assert [outcome.result for outcome in outcomes] == ["created"] * 4, outcomes
    rollups_rebuild(merchant_id=merchant.pk)
    return {"par": par, "lyo": lyo, "tee": tee, "cap": cap}


def home(merchant, query: str = MAY) -> str:
    return reverse("merchants:home", args=[merchant.slug]) + (f"?{query}" if query else "")


def cards(response) -> dict[str, tuple]:
    return {card.key: (card.value, card.comparison, card.delta) for card in response.context["cards"]}


def panel(response, key: str) -> dict:
    return next(p for p in response.context["panels"] if p["key"] == key)


def texts(rows) -> list[list[str]]:
    return [[cell.text for cell in row] for row in rows]


# --- the page ---------------------------------------------------------------------------------


def test_dashboard_shows_the_exact_key_figures_with_their_comparison(
    owner_client, merchant, world, django_assert_max_num_queries
):
    with django_assert_max_num_queries(DASHBOARD_MAX_QUERIES):
        response = owner_client.get(home(merchant))

    assert response.status_code == 200
    assert cards(response) == {
        "net_sales": (euros("60.00"), euros("20.00"), "+200,0%"),
        "gross_sales": (euros("70.00"), euros("20.00"), "+250,0%"),
        "refunds": (euros("5.00"), euros("0.00"), None),
        "orders": ("3", "1", "+200,0%"),
        "average_order_value": (euros("20.00"), euros("20.00"), "+0,0%"),
        "units": ("4", "1", "+300,0%"),
        "units_per_order": ("1,33", "1", "+33,0%"),
        "customers": ("1", "1", "+0,0%"),
        "returning_share": ("0,0%", "0,0%", "+0,0 pt"),
        "omnichannel_customers": ("1", "0", None),
        "omnichannel_sales_share": ("75,0%", "0,0%", "+75,0 pt"),
        "online_share": ("8,3%", "100,0%", "-91,7 pt"),
    }
    body = response.content.decode()
    assert "<h1>Maison Alpha</h1>" in body
    assert f'<p class="kpi-value">{euros("60.00")}</p>' in body
    assert "Previous period" in body  # the comparison is named
    assert 'src="/static/vendor/plotly/plotly.min.js"' in body  # Plotly served by the project
    assert "cdn." not in body


def test_every_chart_has_a_figure_a_table_a_csv_and_an_export_link(owner_client, merchant, world):
    response = owner_client.get(home(merchant, f"{MAY}&channel=offline"))

    keys = [p["key"] for p in response.context["panels"]]
    assert keys == [
        "sales-over-time",
        "channel-mix",
        "customers",
        "stores",
        "map",
        "hours",
        "products",
        "categories",
        "new-returning",
    ]
    body = response.content.decode()
    for key in keys:
        assert f'data-figure="figure-{key}"' in body
        assert f'<script type="application/json" id="figure-{key}">' in body
    stores = panel(response, "stores")
    assert stores["csv_url"] == (
        "/m/alpha/analytics/charts.csv?chart=stores&from=2024-05-01&to=2024-05-31&channel=offline"
    )
    assert stores["export_url"] == (
        "/m/alpha/reports/?kind=store-performance&from=2024-05-01&to=2024-05-31&channel=offline"
    )
    assert panel(response, "products")["export_url"].startswith("/m/alpha/reports/?kind=product-performance&")
    assert panel(response, "customers")["export_url"].startswith("/m/alpha/reports/?kind=customers&")
    assert panel(response, "sales-over-time")["export_url"].startswith("/m/alpha/reports/?kind=sales-summary&")


def test_store_leaderboard_table_has_exact_figures_and_drill_down_links(owner_client, merchant, world):
    response = owner_client.get(home(merchant))

    stores = panel(response, "stores")
    zero = euros("0.00")
    assert texts(stores["rows"]) == [
        ["PAR", "Paris Marais", "Île-de-France", euros("40.00"), euros("40.00"), zero, "1", "2", euros("40.00"), zero,
         zero, "—"],
        ["LYO", "Lyon Confluence", "Auvergne-Rhône-Alpes", euros("15.00"), euros("20.00"), zero, "1", "1",
         euros("15.00"), zero, zero, "—"],
    ]  # fmt: skip
    assert stores["rows"][0][0].url == "/m/alpha/analytics/stores/PAR/"
    assert (
        '<a href="/m/alpha/analytics/stores/PAR/?from=2024-05-01&amp;to=2024-05-31">PAR</a>'
        in response.content.decode()
    )


def test_products_categories_and_customers_tables(owner_client, merchant, world):
    response = owner_client.get(home(merchant))

    assert texts(panel(response, "products")["rows"]) == [
        [
            "1",
            "TEE",
            "Linen tee",
            "Tops",
            "3",
            euros("60.00"),
            euros("5.00"),
            euros("0.00"),
            euros("55.00"),
            euros("0.00"),
            euros("55.00"),
        ],
        [
            "2",
            "CAP",
            "Cap",
            "Accessories",
            "1",
            euros("10.00"),
            euros("0.00"),
            euros("0.00"),
            euros("10.00"),
            euros("10.00"),
            euros("0.00"),
        ],
    ]
    assert panel(response, "products")["rows"][0][0].url == f"/m/alpha/analytics/products/{world['tee'].pk}/"
    assert texts(panel(response, "customers")["rows"]) == [
        ["Online only", "0", euros("0.00"), "—"],
        ["In store only", "0", euros("0.00"), "—"],
        ["Both (omnichannel)", "1", euros("45.00"), euros("45.00")],
    ]
    assert texts(panel(response, "channel-mix")["rows"]) == [
        ["Online", euros("5.00"), "8,3%"],
        ["In store", euros("55.00"), "91,7%"],
    ]


def test_query_count_does_not_grow_with_stores_and_products(owner_client, merchant, world):
    url = home(merchant)
    owner_client.get(url)  # the first visit also remembers the merchant in the session
    cache.clear()  # every figure computed again (selectors may cache their answers)
    with CaptureQueriesContext(connection) as before:
        owner_client.get(url)
    # Given five more stores and products, each with a sale
    more = []
    for index in range(5):
        store = StoreFactory(merchant=merchant, code=f"X{index}", latitude=Decimal("45.0"), longitude=Decimal("5.0"))
        product = ProductFactory(merchant=merchant, sku=f"X-{index}")
        line = LineInput(product.sku, Decimal(1), Decimal("1.00"))
        more.append(
            OrderInput("api", f"x{index}", "offline", at("2024-05-20T10:00:00"), "EUR", store.code, lines=[line])
        )
    assert {o.result for o in orders_ingest(merchant=merchant, orders=more)} == {"created"}
    rollups_rebuild(merchant_id=merchant.pk)
    cache.clear()

    with CaptureQueriesContext(connection) as after:
        response = owner_client.get(url)

    assert len(panel(response, "stores")["rows"]) == 7
    assert len(after.captured_queries) == len(before.captured_queries)


def test_the_page_is_cached_until_the_rollups_change(owner_client, merchant, world, django_assert_max_num_queries):
    url = home(merchant)
    first = owner_client.get(url)

    # Asked again: no selector runs (session, user, membership, has-sales, form lists, filter parsing at most)
    with django_assert_max_num_queries(8):
        again = owner_client.get(url)
    assert (again.context["panels"], again.context["cards"]) == (first.context["panels"], first.context["cards"])

    # A new sale lands and the rollups are rebuilt: the next answer has it
    line = LineInput("CAP", Decimal(1), Decimal("10.00"))
    sale = OrderInput("api", "5", "offline", at("2024-05-20T10:00:00"), "EUR", "PAR", lines=[line])
    assert orders_ingest(merchant=merchant, orders=[sale])[0].result == "created"
    rollups_rebuild(merchant_id=merchant.pk)

    assert cards(owner_client.get(url))["net_sales"][0] == euros("70.00")


# --- filters in the URL -----------------------------------------------------------------------


def test_filters_round_trip_through_the_url(owner_client, merchant, world):
    response = owner_client.get(home(merchant, f"{MAY}&channel=offline&store=PAR&compare=none&category=Tops"))

    assert response.status_code == 200
    form = response.context["form"]
    assert {key: form.initial[key] for key in ("from", "to", "preset", "channel", "compare", "store", "category")} == {
        "from": "2024-05-01",
        "to": "2024-05-31",
        "preset": "custom",
        "channel": "offline",
        "compare": "none",
        "store": ["PAR"],
        "category": "Tops",
    }
    body = response.content.decode()
    assert '<option value="PAR" selected>' in body
    assert '<option value="offline" selected>' in body
    assert cards(response)["net_sales"] == (euros("40.00"), None, None)
    assert response.context["comparison_text"] == ""
    assert panel(response, "stores")["csv_url"].endswith(
        "&from=2024-05-01&to=2024-05-31&compare=none&channel=offline&store=PAR&category=Tops"
    )


def test_a_preset_wins_over_the_dates_the_form_also_sends(owner_client, merchant, world):
    response = owner_client.get(home(merchant, "preset=last_7&from=2024-05-01&to=2024-05-31"))

    assert response.status_code == 200
    assert response.context["filters"].preset == "last_7"
    assert response.context["filters"].days == 7
    assert response.context["form"].initial["preset"] == "last_7"


def test_stores_are_offered_grouped_by_region(owner_client, merchant, world):
    body = owner_client.get(home(merchant)).content.decode()

    assert '<optgroup label="Auvergne-Rhône-Alpes">' in body
    assert '<option value="LYO">Lyon Confluence (LYO)</option>' in body
    assert body.index('<optgroup label="Auvergne-Rhône-Alpes">') < body.index('<optgroup label="Île-de-France">')


@pytest.mark.parametrize(
    ("query", "message"),
    [
        pytest.param("from=2024-13-01&to=2024-05-31", "Start date (from): “2024-13-01” is not a date", id="bad-date"),
        pytest.param(f"{MAY}&store=NOPE", "Stores (store): Unknown store code(s): NOPE.", id="unknown-store"),
        pytest.param(f"{MAY}&channel=phone", "Channel (channel): “phone” is not a channel", id="bad-channel"),
        pytest.param("preset=forever", "Period (preset): “forever” is not a preset", id="bad-preset"),
    ],
)
def test_a_bad_filter_says_what_is_wrong_instead_of_failing(owner_client, merchant, world, query, message):
    response = owner_client.get(home(merchant, query))

    assert response.status_code == 400
    body = response.content.decode()
    assert message in body
    assert "These filters can&#x27;t be used" in body or "These filters can't be used" in body
    assert "Reset the filters" in body


def test_htmx_gets_only_the_body_and_the_new_dates(owner_client, merchant, world):
    response = owner_client.get(home(merchant, "preset=last_7"), HTTP_HX_REQUEST="true")

    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert 'id="filter-dates" class="filter-dates" hx-swap-oob="true"' in body
    assert 'class="kpis"' in body


def test_history_restore_gets_the_whole_page(owner_client, merchant, world):
    response = owner_client.get(home(merchant), HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true")

    assert "<html" in response.content.decode()


def test_an_htmx_bad_filter_is_swapped_in_with_its_message(owner_client, merchant, world):
    response = owner_client.get(home(merchant, "from=2024-05-31&to=2024-05-01"), HTTP_HX_REQUEST="true")

    assert response.status_code == 400
    assert "End date (to): “to” (2024-05-01) is before “from” (2024-05-31)." in response.content.decode()


# --- roles and drill-downs --------------------------------------------------------------------


def test_store_manager_sees_only_their_stores(store_manager_client, merchant, world, django_assert_max_num_queries):
    store_manager_client.membership.stores.set([world["par"]])

    with django_assert_max_num_queries(DASHBOARD_MAX_QUERIES):
        response = store_manager_client.get(home(merchant))

    assert cards(response)["net_sales"][0] == euros("40.00")
    assert [row[0].text for row in panel(response, "stores")["rows"]] == ["PAR"]
    body = response.content.decode()
    assert "Lyon Confluence" not in body
    assert '<option value="LYO"' not in body


def test_another_merchants_sales_never_show(owner_client, merchant, world, other_merchant):
    StoreFactory(merchant=other_merchant, code="PAR", name="Beta Secret Store")
    ProductFactory(merchant=other_merchant, sku="TEE", name="Beta Secret Tee")
    line = LineInput("TEE", Decimal(3), Decimal("99.00"))
    sale = OrderInput("api", "1", "offline", at("2024-05-10T10:00:00"), "EUR", "PAR", lines=[line])
    assert orders_ingest(merchant=other_merchant, orders=[sale])[0].result == "created"
    rollups_rebuild(merchant_id=other_merchant.pk)

    response = owner_client.get(home(merchant))
    csv_response = owner_client.get(reverse("analytics:chart-csv", args=[merchant.slug]) + f"?chart=products&{MAY}")

    assert cards(response)["net_sales"][0] == euros("60.00")
    assert "Beta Secret" not in response.content.decode()
    assert "Beta Secret" not in csv_response.content.decode()


def test_store_dashboard_is_the_same_page_for_one_store(analyst_client, merchant, world, django_assert_max_num_queries):
    url = reverse("analytics:store-dashboard", args=[merchant.slug, "lyo"]) + f"?{MAY}"

    with django_assert_max_num_queries(DASHBOARD_MAX_QUERIES):
        response = analyst_client.get(url)

    assert response.status_code == 200
    assert cards(response)["net_sales"][0] == euros("15.00")
    body = response.content.decode()
    assert "<h1>Lyon Confluence</h1>" in body
    assert 'name="store"' not in body  # the store is fixed
    assert panel(response, "stores")["csv_url"].endswith("&store=LYO")


def test_store_dashboard_of_a_store_not_yours_is_404(store_manager_client, merchant, world, other_merchant):
    store_manager_client.membership.stores.set([world["par"]])
    other = StoreFactory(merchant=other_merchant, code="OTH")

    assert (
        store_manager_client.get(reverse("analytics:store-dashboard", args=[merchant.slug, "LYO"])).status_code == 404
    )
    assert (
        store_manager_client.get(reverse("analytics:store-dashboard", args=[merchant.slug, other.code])).status_code
        == 404
    )


def test_product_page_splits_sales_by_channel_and_store(owner_client, merchant, world, django_assert_max_num_queries):
    url = reverse("analytics:product-detail", args=[merchant.slug, world["tee"].pk]) + f"?{MAY}"

    with django_assert_max_num_queries(12):
        response = owner_client.get(url)

    assert response.status_code == 200
    tables = {title: texts(rows) for title, _, rows in response.context["tables"]}
    assert tables["By channel"] == [
        ["Online", euros("0.00"), euros("0.00"), euros("0.00"), euros("0.00"), "0", "0"],
        ["In store", euros("60.00"), euros("5.00"), euros("0.00"), euros("55.00"), "3", "2"],
    ]
    assert tables["By store"] == [
        ["PAR", "Paris Marais", euros("40.00"), euros("0.00"), euros("40.00"), "2"],
        ["LYO", "Lyon Confluence", euros("15.00"), euros("0.00"), euros("15.00"), "1"],
    ]
    assert response.context["net_sales"] == euros("55.00")
    assert 'data-figure="figure-product-series"' in response.content.decode()


def test_product_page_shows_a_store_manager_only_their_stores(store_manager_client, merchant, world):
    store_manager_client.membership.stores.set([world["par"]])
    url = reverse("analytics:product-detail", args=[merchant.slug, world["tee"].pk]) + f"?{MAY}"

    response = store_manager_client.get(url)

    tables = {title: texts(rows) for title, _, rows in response.context["tables"]}
    assert [row[0] for row in tables["By store"]] == ["PAR"]
    assert response.context["net_sales"] == euros("40.00")
    assert "Lyon Confluence" not in response.content.decode()


def test_product_page_of_another_merchants_product_is_404(owner_client, merchant, other_merchant, world):
    other = ProductFactory(merchant=other_merchant)

    assert owner_client.get(reverse("analytics:product-detail", args=[merchant.slug, other.pk])).status_code == 404


# --- CSV --------------------------------------------------------------------------------------


def read_csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_chart_csv_has_the_raw_numbers_for_the_same_filters(
    owner_client, merchant, world, django_assert_max_num_queries
):
    url = reverse("analytics:chart-csv", args=[merchant.slug]) + f"?chart=stores&{MAY}"

    with django_assert_max_num_queries(12):
        response = owner_client.get(url)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="alpha-stores-2024-05-01-2024-05-31.csv"'
    assert read_csv(response) == [
        [
            "Store",
            "Name",
            "Region",
            "Net sales",
            "Gross sales",
            "Refunds",
            "Orders",
            "Units",
            "Average order value",
            "Online orders fulfilled",
            "Comparison net sales",
            "Change",
        ],
        ["PAR", "Paris Marais", "Île-de-France", "40.00", "40.00", "0.00", "1", "2.000", "40.00", "0.00", "0.00", ""],
        [
            "LYO",
            "Lyon Confluence",
            "Auvergne-Rhône-Alpes",
            "15.00",
            "20.00",
            "0.00",
            "1",
            "1.000",
            "15.00",
            "0.00",
            "0.00",
            "",
        ],
    ]


def test_chart_csv_defaults_to_the_key_figures(owner_client, merchant, world):
    response = owner_client.get(reverse("analytics:chart-csv", args=[merchant.slug]) + f"?{MAY}&compare=none")

    rows = read_csv(response)
    assert rows[0] == ["Metric", "Value", "Comparison", "Change"]
    assert rows[1] == ["Net sales", "60.00", "", ""]


def test_chart_csv_refuses_unknown_charts_and_bad_filters(owner_client, merchant, world):
    base = reverse("analytics:chart-csv", args=[merchant.slug])

    assert owner_client.get(f"{base}?chart=nope&{MAY}").status_code == 404
    bad = owner_client.get(f"{base}?chart=stores&from=yesterday&to=2024-05-01")
    assert bad.status_code == 400
    assert (
        bad.content.decode()
        == "Start date (from): “yesterday” is not a date: use YYYY-MM-DD (for example 2024-05-31).\n"
    )


def test_store_managers_csv_has_only_their_stores(store_manager_client, merchant, world):
    store_manager_client.membership.stores.set([world["par"]])

    rows = read_csv(
        store_manager_client.get(reverse("analytics:chart-csv", args=[merchant.slug]) + f"?chart=stores&{MAY}")
    )

    assert [row[0] for row in rows] == ["Store", "PAR"]


# --- empty states -----------------------------------------------------------------------------


def test_before_any_sale_the_page_says_how_to_import(owner_client, merchant):
    response = owner_client.get(home(merchant, ""))

    body = response.content.decode()
    assert response.status_code == 200
    assert "Sales dashboards appear here once sales data flows in" in body
    assert reverse("sales:import-list", args=[merchant.slug]) in body
    assert "Finish setting up Maison Alpha" in body  # the onboarding nudge stays
    assert 'id="dashboard-filters"' not in body


def test_a_range_without_sales_shows_zeros_and_empty_charts(owner_client, merchant, world):
    response = owner_client.get(home(merchant, "from=2023-01-01&to=2023-01-31"))

    assert response.status_code == 200
    assert cards(response)["net_sales"][0] == euros("0.00")
    assert cards(response)["average_order_value"][0] == "—"
    assert all(p["empty"] for p in response.context["panels"])
    assert "Nothing to show for these filters." in response.content.decode()
