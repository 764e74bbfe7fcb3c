"""The analytics endpoints of the partner API (scope ``analytics:read``): the dashboard's figures.

``GET /api/v1/analytics/summary/``, ``/timeseries/``, ``/stores/``, ``/products/`` take the dashboard's filters
(``analytics.filters.filters_from_params``): ``from``/``to`` (inclusive local dates) or ``preset``, ``channel``,
``store`` (repeatable store code), ``region``, ``category``, ``compare``. A bad filter answers 400 in the one
error format, with the parameter as ``attr``. Views only parse, call one selector and serialize.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view
from drf_standardized_errors.openapi_validation_errors import extend_validation_errors
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics import selectors
from analytics.filters import Compare, FilterError, Filters, Preset, filters_from_params
from analytics.serializers import (
    ProductsResponseSerializer,
    StoresResponseSerializer,
    SummaryResponseSerializer,
    TimeseriesResponseSerializer,
)
from merchants.api_auth import TenantAPIMixin
from merchants.models import ApiScope

PRODUCTS_MAX_LIMIT = 1000

FILTER_PARAMETERS = [
    OpenApiParameter(
        "from", OpenApiTypes.DATE, description="First local day (inclusive), with `to`. Overrides `preset`."
    ),
    OpenApiParameter("to", OpenApiTypes.DATE, description="Last local day (inclusive), with `from`."),
    OpenApiParameter(
        "preset",
        OpenApiTypes.STR,
        enum=[preset.value for preset in Preset if preset != Preset.CUSTOM],
        description="A range relative to today in the merchant's time zone (default `last_30`).",
    ),
    OpenApiParameter("channel", OpenApiTypes.STR, enum=["online", "offline", "all"], description="Default: all."),
    OpenApiParameter(
        "store",
        OpenApiTypes.STR,
        many=True,
        explode=True,
        description="A store code; repeat it (or separate codes with commas) for several stores. Online sales "
        "count for a store only when it fulfilled them (click-and-collect).",
    ),
    OpenApiParameter("region", OpenApiTypes.STR, description="Only the stores of this region (case-insensitive)."),
    OpenApiParameter("category", OpenApiTypes.STR, description="A category name (case-insensitive)."),
    OpenApiParameter(
        "compare",
        OpenApiTypes.STR,
        enum=[compare.value for compare in Compare],
        description="`previous`: the same number of days just before (default); `last_year`: the same dates a "
        "year earlier; `none`.",
    ),
]
FILTER_NAMES = ("from", "to", "preset", "channel", "store", "region", "category", "compare")
DEFINITIONS = (
    "Definitions (the same on the dashboard and in reports): net sales = gross sales − discounts − refunds; "
    "refunds count on the day of the refund; cancelled orders count nothing; orders have at least one sold item; "
    "customers are identified customers with an order in the range, returning ones had ordered before it, "
    "omnichannel ones bought online and in store within it. Local days: a store's time zone for its sales, the "
    "merchant's for online sales. Money: decimal strings in the merchant's currency."
)


def filter_errors(view_class):
    """Document the 400 answer of each filter parameter (``attr`` = the parameter)."""
    for name in FILTER_NAMES:
        view_class = extend_validation_errors(["invalid"], field_name=name, methods=["get"])(view_class)
    return view_class


class AnalyticsAPIView(TenantAPIMixin, APIView):
    required_scopes = {"GET": [ApiScope.ANALYTICS_READ]}

    def filters(self) -> Filters:
        try:
            return filters_from_params(self.tenant, self.request.query_params)
        except FilterError as error:
            raise exceptions.ValidationError({key: [message] for key, message in error.errors.items()}) from None

    def context(self, filters: Filters, store_codes: list[str] | None = None) -> dict:
        merchant = self.merchant
        comparison = filters.comparison()
        params = self.request.query_params
        return {
            "merchant": merchant,
            "filters": {
                "date_from": filters.date_from,
                "date_to": filters.date_to,
                "preset": filters.preset.value,
                "channel": filters.channel,
                "stores": store_codes,
                "region": params.get("region") or None,
                "category": params.get("category") or None,
                "compare": filters.compare.value,
                "comparison_from": comparison.date_from if comparison else None,
                "comparison_to": comparison.date_to if comparison else None,
            },
        }

    def store_codes(self, filters: Filters) -> list[str] | None:
        """The store codes asked for, normalised (the filter itself holds ids)."""
        from stores.validation import normalize_store_code

        values = self.request.query_params.getlist("store")
        codes = sorted({normalize_store_code(part) for value in values for part in value.split(",") if part.strip()})
        return codes or None


def _choice(params, name: str, choices: tuple, default):
    value = params.get(name, default)
    if value in ("", None):
        return default
    if value not in choices:
        shown = ", ".join(str(choice) for choice in choices if choice is not None)
        raise exceptions.ValidationError({name: [f"“{value}” is not one of: {shown}."]})
    return value


def _integer(params, name: str, default: int, minimum: int, maximum: int) -> int:
    value = params.get(name)
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except ValueError:
        raise exceptions.ValidationError({name: [f"“{value}” is not a whole number."]}) from None
    if not minimum <= number <= maximum:
        raise exceptions.ValidationError({name: [f"Give a number from {minimum} to {maximum}."]})
    return number


SUMMARY_EXAMPLE = {
    "merchant": {"slug": "demo", "name": "Maison Demo", "currency": "EUR", "timezone": "Europe/Paris"},
    "filters": {
        "date_from": "2024-05-01",
        "date_to": "2024-05-31",
        "preset": "custom",
        "channel": None,
        "stores": None,
        "region": None,
        "category": None,
        "compare": "previous",
        "comparison_from": "2024-03-31",
        "comparison_to": "2024-04-30",
    },
    "net_sales": "184220.40",
    "gross_sales": "201512.00",
    "discounts": "12480.10",
    "refunds": "4811.50",
    "orders": 2412,
    "average_order_value": "76.38",
    "units": "5120.000",
    "units_per_order": "2.12",
    "customers": 1630,
    "returning_customers": 702,
    "returning_share": "0.4307",
    "new_customers": 928,
    "omnichannel_customers": 214,
    "omnichannel_sales": "31810.75",
    "omnichannel_sales_share": "0.1727",
    "online_sales": "61702.20",
    "online_share": "0.3349",
    "comparison": None,
}


@filter_errors
@extend_schema_view(
    get=extend_schema(
        operation_id="analytics_summary",
        tags=["analytics"],
        summary="Key figures",
        description="The dashboard's key figures for the range, and the same for the comparison period (`comparison`, "
        f"null with `compare=none`). {DEFINITIONS} Scope: `analytics:read`.",
        parameters=FILTER_PARAMETERS,
        responses={200: SummaryResponseSerializer},
        examples=[OpenApiExample("May 2024", value=SUMMARY_EXAMPLE, response_only=True)],
    )
)
class SummaryView(AnalyticsAPIView):
    """``GET /api/v1/analytics/summary/``."""

    def get(self, request):
        filters = self.filters()
        result = selectors.summary(filters)
        body = {**result.current.__dict__, **self.context(filters, self.store_codes(filters))}
        body["comparison"] = result.comparison
        return Response(SummaryResponseSerializer(body).data)


@filter_errors
@extend_validation_errors(["invalid"], field_name="metric", methods=["get"])
@extend_validation_errors(["invalid"], field_name="interval", methods=["get"])
@extend_validation_errors(["invalid"], field_name="group_by", methods=["get"])
@extend_schema_view(
    get=extend_schema(
        operation_id="analytics_timeseries",
        tags=["analytics"],
        summary="A figure over time",
        description="One figure per day, ISO week (from Monday) or month of the range, per channel, store or category: "
        "every bucket is present (zero when nothing sold) for every group that has data. "
        f"{DEFINITIONS} Scope: `analytics:read`.",
        parameters=[
            *FILTER_PARAMETERS,
            OpenApiParameter(
                "metric", OpenApiTypes.STR, enum=list(selectors.METRICS), description="Default net_sales."
            ),
            OpenApiParameter("interval", OpenApiTypes.STR, enum=list(selectors.INTERVALS), description="Default day."),
            OpenApiParameter(
                "group_by",
                OpenApiTypes.STR,
                enum=["channel", "store", "category", "none"],
                description="Default channel.",
            ),
        ],
        responses={200: TimeseriesResponseSerializer},
    )
)
class TimeseriesView(AnalyticsAPIView):
    """``GET /api/v1/analytics/timeseries/``."""

    def get(self, request):
        params = request.query_params
        metric = _choice(params, "metric", selectors.METRICS, "net_sales")
        interval = _choice(params, "interval", selectors.INTERVALS, "day")
        group_by = _choice(params, "group_by", ("channel", "store", "category", "none"), "channel")
        group_by = None if group_by == "none" else group_by
        filters = self.filters()
        if interval == "day" and filters.days > 731:
            raise exceptions.ValidationError({"interval": ["Daily points cover at most 731 days: use week or month."]})
        points = selectors.timeseries(filters, metric=metric, interval=interval, group_by=group_by)
        body = {
            **self.context(filters, self.store_codes(filters)),
            "metric": metric,
            "interval": interval,
            "group_by": group_by,
            "points": points,
        }
        return Response(TimeseriesResponseSerializer(body).data)


@filter_errors
@extend_schema_view(
    get=extend_schema(
        operation_id="analytics_stores",
        tags=["analytics"],
        summary="Store leaderboard",
        description="Every store with sales in the range or the comparison period, by net sales (highest first), with "
        f"the change against the comparison period. {DEFINITIONS} Scope: `analytics:read`.",
        parameters=FILTER_PARAMETERS,
        responses={200: StoresResponseSerializer},
    )
)
class StoresView(AnalyticsAPIView):
    """``GET /api/v1/analytics/stores/``."""

    def get(self, request):
        filters = self.filters()
        body = {**self.context(filters, self.store_codes(filters)), "results": selectors.stores(filters)}
        return Response(StoresResponseSerializer(body).data)


@filter_errors
@extend_validation_errors(["invalid"], field_name="limit", methods=["get"])
@extend_validation_errors(["invalid"], field_name="offset", methods=["get"])
@extend_schema_view(
    get=extend_schema(
        operation_id="analytics_products",
        tags=["analytics"],
        summary="Top products",
        description="Products by net sales in the range (highest first), split online/in store; `limit` (default 20, "
        f"at most {PRODUCTS_MAX_LIMIT}) and `offset` page through them. Product figures are at line level: order-level "
        f"discounts belong to no product. {DEFINITIONS} Scope: `analytics:read`.",
        parameters=[
            *FILTER_PARAMETERS,
            OpenApiParameter("limit", OpenApiTypes.INT, description=f"1–{PRODUCTS_MAX_LIMIT}, default 20."),
            OpenApiParameter("offset", OpenApiTypes.INT, description="Products to skip, default 0."),
        ],
        responses={200: ProductsResponseSerializer},
    )
)
class ProductsView(AnalyticsAPIView):
    """``GET /api/v1/analytics/products/``."""

    def get(self, request):
        limit = _integer(request.query_params, "limit", 20, 1, PRODUCTS_MAX_LIMIT)
        offset = _integer(request.query_params, "offset", 0, 0, 10_000_000)
        filters = self.filters()
        body = {
            **self.context(filters, self.store_codes(filters)),
            "limit": limit,
            "offset": offset,
            "results": selectors.products(filters, limit=limit, offset=offset),
        }
        return Response(ProductsResponseSerializer(body).data)
