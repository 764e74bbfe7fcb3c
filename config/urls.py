"""Root URLs: the merchant portal (``/m/<slug>/``), accounts, the partner API (``/api/v1/``), admin."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from config.api import ApiNotFoundView

admin.site.site_header = "NewRetail staff"
admin.site.site_title = "NewRetail staff"
admin.site.index_title = "Merchants, stores, jobs"

urlpatterns = [
    path("", include("merchants.urls")),
    path("accounts/", include("accounts.urls")),
    path("m/<slug:merchant_slug>/stores/", include("stores.urls")),
    path("m/<slug:merchant_slug>/catalog/", include("catalog.urls")),
    path("m/<slug:merchant_slug>/sales/", include("sales.urls")),
    path("m/<slug:merchant_slug>/analytics/", include("analytics.urls")),
    path("m/<slug:merchant_slug>/recommendations/", include("recommendations.urls")),
    path("m/<slug:merchant_slug>/reports/", include("reports.urls")),
    path("api/v1/", include("config.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    re_path(r"^api/", ApiNotFoundView.as_view()),  # any other URL under /api/ answers the API's JSON 404
    path("admin/", admin.site.urls),
]

handler500 = "config.api.server_error"  # JSON under /api/, the HTML page elsewhere
handler403 = "merchants.views.permission_denied"  # a suspended merchant's page shows why
