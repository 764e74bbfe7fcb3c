"""The partner API, version 1. Each app contributes its routes from its ``api.py``."""

from django.urls import include, path

app_name = "api"

urlpatterns = [
    path("", include("stores.api_urls")),
    path("", include("catalog.api_urls")),
    path("", include("sales.api_urls")),
    path("", include("analytics.api_urls")),
    path("", include("recommendations.api_urls")),
    path("", include("reports.api_urls")),
]
