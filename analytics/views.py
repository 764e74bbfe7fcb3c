"""The merged dashboard (``/m/<slug>/``, the merchant's home), a store's own dashboard, a product's page and the
CSV behind every chart.

The query string is the state: ``from``, ``to``, ``preset``, ``compare``, ``channel``, ``store`` (repeatable),
``region``, ``category`` — parsed by ``analytics.filters.filters_from_params`` exactly as the API parses them.
The filter form re-requests the page with htmx (``hx-get`` + ``hx-push-url``): an htmx request gets only the
dashboard body; a normal or history-restore request gets the whole page, so shared links and the back button
work. Each selector is called at most once per request (:class:`DashboardData` caches them); figures are built
on the server (``analytics.charts``) and drawn by Plotly from static files served by the project.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple
from urllib.parse import quote, urlencode

from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.generic import View

from analytics import cache as analytics_cache
from analytics import charts, drilldowns, selectors
from analytics.charts import NumberFormat, Table
from analytics.filters import Compare, FilterError, Filters, filters_from_params
from analytics.forms import COMPARE_LABELS, FILTER_PARAMETERS, PRESET_LABELS, DashboardFilterForm, initial_from
from catalog.models import Category, Product
from merchants.models import ApiKey, Membership
from merchants.tenancy import MerchantViewMixin, Perm, Tenant
from merchants.views import onboarding_progress, remember_merchant
from sales.models import Order
from stores.models import Store

TOP_PRODUCTS = 10
FILTER_LABELS = {
    "from": "Start date",
    "to": "End date",
    "preset": "Period",
    "compare": "Comparison",
    "channel": "Channel",
    "store": "Stores",
    "region": "Region",
    "category": "Category",
}


class StoreOption(NamedTuple):
    code: str
    name: str
    region: str | None


class CategoryOption(NamedTuple):
    name: str


# --- data: every selector at most once per request ------------------------------------------


class DashboardData:
    """The selector results behind the page, each fetched on first use and kept for the request."""

    def __init__(self, filters: Filters):
        self.filters = filters
        self.interval = charts.choose_interval(filters)
        self.comparison_filters = filters.comparison()

    @cached_property
    def summary(self) -> selectors.Summary:
        return selectors.summary(self.filters)

    @cached_property
    def series(self) -> list[selectors.SeriesPoint]:
        return selectors.timeseries(self.filters, metric="net_sales", interval=self.interval, group_by="channel")

    @cached_property
    def comparison_series(self) -> list[selectors.SeriesPoint] | None:
        if self.comparison_filters is None:
            return None
        return selectors.timeseries(self.comparison_filters, metric="net_sales", interval=self.interval, group_by=None)

    @cached_property
    def stores(self) -> list[selectors.StoreRow]:
        return selectors.stores(self.filters)

    @cached_property
    def products(self) -> list[selectors.ProductRow]:
        return selectors.products(self.filters, limit=TOP_PRODUCTS)

    @cached_property
    def categories(self) -> list[selectors.CategoryRow]:
        return selectors.categories(self.filters)

    @cached_property
    def hours(self) -> list[selectors.HourCell]:
        return selectors.hour_by_weekday(self.filters)

    @cached_property
    def behaviour(self) -> list[selectors.BehaviourRow]:
        return selectors.customer_behaviour(self.filters)

    @cached_property
    def new_returning(self) -> list[selectors.NewReturningPoint]:
        return selectors.new_vs_returning(self.filters, interval=self.interval)

    def comparison_label(self) -> str:
        return COMPARE_LABELS.get(self.filters.compare, "Comparison")


@dataclass(frozen=True)
class ChartSpec:
    key: str
    title: str
    description: str
    report_kind: str  # the reports page's kind for "export this"
    figure: Callable[[DashboardData, NumberFormat], dict]
    table: Callable[[DashboardData], Table]
    is_empty: Callable[[DashboardData], bool]
    wide: bool = False


def _no_sales(points) -> bool:
    return all(point.value == 0 for point in points)


CHARTS: tuple[ChartSpec, ...] = (
    ChartSpec(
        "sales-over-time",
        "Net sales over time",
        "Online and in-store net sales per period, the comparison period's total dashed.",
        "sales-summary",
        lambda d, fmt: charts.sales_over_time_figure(
            d.series, d.comparison_series, fmt, comparison_label=d.comparison_label()
        ),
        lambda d: charts.sales_over_time_table(d.series, d.comparison_series),
        lambda d: _no_sales(d.series) and _no_sales(d.comparison_series or []),
        wide=True,
    ),
    ChartSpec(
        "channel-mix",
        "Channel mix",
        "Share of net sales online and in store.",
        "sales-summary",
        lambda d, fmt: charts.channel_mix_figure(d.summary.current, fmt),
        lambda d: charts.channel_mix_table(d.summary.current),
        lambda d: d.summary.current.net_sales <= 0,
    ),
    ChartSpec(
        "customers",
        "Customers by channel behaviour",
        "Identified customers who bought only online, only in store, or both, and their net sales.",
        "customers",
        lambda d, fmt: charts.customer_behaviour_figure(d.behaviour, fmt),
        lambda d: charts.customer_behaviour_table(d.behaviour),
        lambda d: not any(row.customers for row in d.behaviour),
    ),
    ChartSpec(
        "stores",
        "Store leaderboard",
        f"The {charts.LEADERBOARD_SIZE} stores with the highest net sales; the mark is the comparison period.",
        "store-performance",
        lambda d, fmt: charts.store_leaderboard_figure(d.stores, fmt),
        lambda d: charts.store_table(d.stores),
        lambda d: not d.stores,
    ),
    ChartSpec(
        "map",
        "Stores on the map",
        "Each store at its coordinates, sized by net sales.",
        "store-performance",
        lambda d, fmt: charts.store_map_figure(d.stores, fmt),
        lambda d: charts.store_map_table(d.stores),
        lambda d: not any(row.latitude is not None for row in d.stores),
    ),
    ChartSpec(
        "hours",
        "Sales by hour and weekday",
        "In-store and click-and-collect net sales by the store's local hour and weekday.",
        "store-performance",
        lambda d, fmt: charts.hour_heatmap_figure(d.hours, fmt),
        lambda d: charts.hour_table(d.hours),
        lambda d: not any(cell.orders or cell.net_sales for cell in d.hours),
        wide=True,
    ),
    ChartSpec(
        "products",
        f"Top {TOP_PRODUCTS} products",
        "By net sales, split online and in store.",
        "product-performance",
        lambda d, fmt: charts.top_products_figure(d.products, fmt),
        lambda d: charts.product_table(d.products),
        lambda d: not d.products,
    ),
    ChartSpec(
        "categories",
        "Categories",
        "Net sales by category, split online and in store.",
        "product-performance",
        lambda d, fmt: charts.categories_figure(d.categories, fmt),
        lambda d: charts.category_table(d.categories),
        lambda d: not d.categories,
    ),
    ChartSpec(
        "new-returning",
        "New and returning customers",
        "Identified customers per period: first order ever, or had ordered before.",
        "customers",
        lambda d, fmt: charts.new_vs_returning_figure(d.new_returning, fmt),
        lambda d: charts.new_vs_returning_table(d.new_returning),
        lambda d: not any(p.new_customers or p.returning_customers for p in d.new_returning),
        wide=True,
    ),
)
# The KPI cards' numbers (current, comparison, change) as a table: the CSV endpoint's default.
KPI_CHART = ChartSpec(
    "kpis",
    "Key figures",
    "Every key figure for the range and the comparison period.",
    "sales-summary",
    lambda d, fmt: {},
    lambda d: charts.kpi_table(d.summary),
    lambda d: False,
)
CHARTS_BY_KEY = {chart.key: chart for chart in (KPI_CHART, *CHARTS)}


# --- the query string -------------------------------------------------------------------------


def filter_query(params: QueryDict) -> str:
    """The dashboard's parameters as a query string (empty ones dropped), e.g. for CSV and export links."""
    return urlencode([(key, value) for key in FILTER_PARAMETERS for value in params.getlist(key) if value != ""])


def page_params(query: QueryDict) -> QueryDict:
    """The page's query string as the filters take it: the filter form always sends the dates, so a preset
    other than "custom" wins over them (the API, stricter, refuses both)."""
    params = query.copy()
    if params.get("preset", "") not in ("", "custom"):
        params.pop("from", None)
        params.pop("to", None)
    return params


def chart_csv_url(slug: str, chart: str, query: str) -> str:
    return f"{reverse('analytics:chart-csv', args=[slug])}?{urlencode({'chart': chart})}" + (
        f"&{query}" if query else ""
    )


def _error_list(error: FilterError) -> list[str]:
    return [f"{FILTER_LABELS.get(field, field)} ({field}): {message}" for field, message in error.errors.items()]


# --- pages ----------------------------------------------------------------------------------


class DashboardView(MerchantViewMixin, View):
    """The merged dashboard, the merchant's home page (``merchants:home``)."""

    template_name = "analytics/dashboard.html"
    body_template_name = "analytics/_dashboard_body.html"
    store: Store | None = None

    def get(self, request, *args, **kwargs):
        remember_merchant(request, self.merchant)
        self.store = self.get_store()
        params = self.get_params()
        context = self.base_context(params)
        # Whether the merchant has any sale at all (the empty state is about connecting data): merchant-wide, as a
        # store restriction would make this a scan of every order when a manager's stores have none.
        has_sales = Order.objects.for_merchant(self.merchant).exists()
        status = 200
        if not has_sales:
            context.update(getting_started_context(self.tenant))
        else:
            try:
                filters = filters_from_params(self.tenant, params)
            except FilterError as error:
                context["filter_errors"] = _error_list(error)
                filters = None
                status = 400
            if filters is not None:
                context.update(self.dashboard_context(filters, params))
        context["has_sales"] = has_sales
        if has_sales:
            context["form"] = self.filter_form(context.get("filters"), params)
        partial = request.htmx and not request.htmx.history_restore_request
        template = self.body_template_name if partial else self.template_name
        response = render(request, template, context, status=status)
        patch_vary_headers(response, ("HX-Request", "HX-History-Restore-Request"))  # a body or a whole page
        return response

    # The store dashboard narrows the page to one store.
    def get_store(self) -> Store | None:
        return None

    def get_params(self) -> QueryDict:
        params = page_params(self.request.GET)
        if self.store is not None:
            params.setlist("store", [self.store.code])
            params.pop("region", None)
        return params

    def page_url(self) -> str:
        return reverse("merchants:home", args=[self.merchant.slug])

    def base_context(self, params: QueryDict) -> dict[str, Any]:
        return {
            "merchant": self.merchant,
            "tenant": self.tenant,
            "nav": "home",
            "store": self.store,
            "page_url": self.page_url(),
            "query": filter_query(params),
            "store_manager": self.tenant.store_ids is not None,
        }

    def filter_form(self, filters: Filters | None, params: QueryDict) -> DashboardFilterForm:
        # Plain rows, not model instances: the form reads only these fields, and a brand has hundreds of stores.
        stores = (
            []
            if self.store is not None
            else [
                StoreOption(*values)
                for values in self.tenant.scope(Store)
                .order_by("region", "name", "code")
                .values_list("code", "name", "region")
            ]
        )
        categories = [
            CategoryOption(name) for name in self.tenant.scope(Category).order_by("name").values_list("name", flat=True)
        ]
        initial = initial_from(filters, self.request.GET)
        return DashboardFilterForm(
            stores=stores, categories=categories, initial=initial, show_stores=self.store is None
        )

    def dashboard_context(self, filters: Filters, params: QueryDict) -> dict[str, Any]:
        """The figures, tables and links of the page, computed once per question and rollups version: the
        analytics cache forgets them as soon as a refresh rewrites the rollups (``analytics.cache``)."""
        query = filter_query(params)
        merchant = self.merchant
        question = (filters, query, self.page_url(), self.store is None, merchant.currency, merchant.timezone)
        return analytics_cache.cached(
            merchant.pk, "dashboard-page-v2", question, lambda: self.compute_dashboard_context(filters, query)
        )

    def compute_dashboard_context(self, filters: Filters, query: str) -> dict[str, Any]:
        fmt = NumberFormat.for_merchant(self.merchant)
        data = DashboardData(filters)
        summary = data.summary
        slug = self.merchant.slug
        # One reverse() per route, not per row (hundreds of stores).
        store_url = reverse("analytics:store-dashboard", args=[slug, "CODE"]).removesuffix("CODE/")
        store_links = {row.code: f"{store_url}{quote(row.code, safe='')}/" for row in data.stores}
        product_url = reverse("analytics:product-detail", args=[slug, 0]).removesuffix("0/")
        product_links = [f"{product_url}{row.product_id}/" for row in data.products]
        panels = []
        for chart in CHARTS:
            table = chart.table(data)
            links = None
            if chart.key in ("stores", "map") and self.store is None:
                links = [store_links.get(row[0]) for row in table.rows]
            elif chart.key == "products":
                links = product_links
            rows = table.display_rows(fmt, links)
            panels.append(
                {  # plain values only: the page's context is cached (pickled)
                    "key": chart.key,
                    "title": chart.title,
                    "description": chart.description,
                    "wide": chart.wide,
                    "empty": chart.is_empty(data),
                    "figure_json": charts.figure_json(chart.figure(data, fmt)),
                    "rows": charts.PackedRows(rows),  # the page shows only their count: unpacked on demand
                    "table_html": charts.table_html(table, rows, caption=chart.title, link_query=query),
                    "csv_url": chart_csv_url(slug, chart.key, query),
                    "export_url": f"{reverse('merchants:home', args=[slug])}reports/?"
                    + urlencode({"kind": chart.report_kind})
                    + (f"&{query}" if query else ""),
                }
            )
        return {
            "filters": filters,
            "summary": summary,
            "kpi_csv_url": chart_csv_url(slug, KPI_CHART.key, query),
            "cards": charts.kpi_cards(summary, fmt),
            "panels": panels,
            "range_text": f"{fmt.day(filters.date_from)} – {fmt.day(filters.date_to)}",
            "comparison_text": (
                f"{data.comparison_label()}: {fmt.day(summary.comparison_from)} – {fmt.day(summary.comparison_to)}"
                if summary.comparison_from and summary.comparison_to
                else ""
            ),
            "preset_label": PRESET_LABELS.get(filters.preset, ""),
            "interval": data.interval,
            "currency": self.merchant.currency,
            "compare_none": filters.compare == Compare.NONE,
        }


class StoreDashboardView(DashboardView):
    """One store's own dashboard: the same page, restricted to the store (a store manager's other stores, or
    another merchant's, answer 404)."""

    def get_store(self) -> Store:
        return self.tenant.get_object(Store, code=self.kwargs["code"].upper())

    def http_method_not_allowed(self, request, *args, **kwargs) -> HttpResponse:
        self.get_store()  # someone else's store is a 404 whatever the method
        return super().http_method_not_allowed(request, *args, **kwargs)

    def page_url(self) -> str:
        return reverse("analytics:store-dashboard", args=[self.merchant.slug, self.store.code])


def getting_started_context(tenant: Tenant) -> dict[str, Any]:
    """The empty state before any sale: the onboarding nudge and the set-up checklist of the old home page."""
    context: dict[str, Any] = {
        "store_count": tenant.scope(Store).count(),
        "product_count": tenant.scope(Product).count(),
        "onboarding": onboarding_progress(tenant.merchant),
    }
    if tenant.has(Perm.MANAGE_MEMBERS):
        context["member_count"] = tenant.scope(Membership).count()
    if tenant.has(Perm.MANAGE_KEYS):
        context["active_key_count"] = tenant.scope(ApiKey).filter(revoked_at__isnull=True).count()
    return context


class ChartCsvView(MerchantViewMixin, View):
    """The numbers of one chart as CSV, for the filters in the query string (one selector call at most)."""

    def get(self, request, *args, **kwargs):
        chart = CHARTS_BY_KEY.get(request.GET.get("chart", KPI_CHART.key))
        if chart is None:
            raise Http404(f"No such chart: choose one of {', '.join(CHARTS_BY_KEY)}.")
        try:
            filters = filters_from_params(self.tenant, page_params(request.GET))
        except FilterError as error:
            return HttpResponse(
                "\n".join(_error_list(error)) + "\n", status=400, content_type="text/plain; charset=utf-8"
            )
        table = chart.table(DashboardData(filters))
        buffer = io.StringIO()
        csv.writer(buffer).writerows(table.csv_rows())
        response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
        filename = f"{self.merchant.slug}-{chart.key}-{filters.date_from.isoformat()}-{filters.date_to.isoformat()}"
        response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
        return response


class ProductView(MerchantViewMixin, View):
    """A product's page: its sales by channel, by store and over time, for the dashboard's filters (a store
    manager sees only their stores' sales). Linked from the dashboard's top products and the catalog."""

    template_name = "analytics/product.html"

    def get_product(self) -> Product:
        return self.tenant.get_object(Product.objects.select_related("category"), pk=self.kwargs["pk"])

    def http_method_not_allowed(self, request, *args, **kwargs) -> HttpResponse:
        self.get_product()  # someone else's product is a 404 whatever the method
        return super().http_method_not_allowed(request, *args, **kwargs)

    def get(self, request, *args, **kwargs):
        product = self.get_product()
        params = page_params(request.GET)
        params.pop("category", None)  # one product: its category says nothing more
        context: dict[str, Any] = {
            "merchant": self.merchant,
            "tenant": self.tenant,
            "nav": "catalog",
            "product": product,
            "page_url": reverse("analytics:product-detail", args=[self.merchant.slug, product.pk]),
            "dashboard_query": filter_query(params),
        }
        status = 200
        filters = None
        try:
            filters = filters_from_params(self.tenant, params)
        except FilterError as error:
            context["filter_errors"] = _error_list(error)
            status = 400
        if filters is not None:
            context.update(self.product_context(filters, product))
        stores = list(self.tenant.scope(Store).order_by("region", "name", "code").only("code", "name", "region"))
        context["form"] = DashboardFilterForm(stores=stores, categories=[], initial=initial_from(filters, request.GET))
        return render(request, self.template_name, context, status=status)

    def product_context(self, filters: Filters, product: Product) -> dict[str, Any]:
        fmt = NumberFormat.for_merchant(self.merchant)
        interval = charts.choose_interval(filters)
        sales = drilldowns.product_sales(filters, product_id=product.pk, interval=interval)
        channel_table = charts.product_channel_table(sales.channels)
        store_table = charts.product_store_table(sales.stores)
        slug = self.merchant.slug
        store_links = [
            reverse("analytics:store-dashboard", args=[slug, row.code]) if row.code else None for row in sales.stores
        ]
        series_table = charts.sales_over_time_table(sales.series, None)
        return {
            "filters": filters,
            "sales": sales,
            "range_text": f"{fmt.day(filters.date_from)} – {fmt.day(filters.date_to)}",
            "net_sales": fmt.money(sales.net_sales),
            "units": fmt.decimal(sales.units),
            "figure_json": charts.figure_json(charts.sales_over_time_figure(sales.series, None, fmt)),
            "series_empty": not any(point.value for point in sales.series),
            "tables": [
                ("By channel", channel_table, channel_table.display_rows(fmt)),
                ("By store", store_table, store_table.display_rows(fmt, store_links)),
                ("Over time", series_table, series_table.display_rows(fmt)),
            ],
        }
