"""Pages of ``analytics``, mounted under ``/m/<merchant_slug>/analytics/``. The merged dashboard itself is the
merchant's home, ``merchants:home`` (``/m/<merchant_slug>/``), served by ``analytics.views.DashboardView``."""

from django.urls import path

from . import views

app_name = "analytics"

urlpatterns = [
    path("stores/<str:code>/", views.StoreDashboardView.as_view(), name="store-dashboard"),
    path("products/<int:pk>/", views.ProductView.as_view(), name="product-detail"),
    path("charts.csv", views.ChartCsvView.as_view(), name="chart-csv"),  # ?chart=<key>&<filters>
]
