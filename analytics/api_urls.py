"""``/api/v1/analytics/...`` routes (scope ``analytics:read``)."""

from django.urls import path

from analytics.api import ProductsView, StoresView, SummaryView, TimeseriesView

urlpatterns = [
    path("analytics/summary/", SummaryView.as_view(), name="analytics-summary"),
    path("analytics/timeseries/", TimeseriesView.as_view(), name="analytics-timeseries"),
    path("analytics/stores/", StoresView.as_view(), name="analytics-stores"),
    path("analytics/products/", ProductsView.as_view(), name="analytics-products"),
]
