"""Pages of ``reports``, mounted under ``/m/<merchant_slug>/reports/``."""

from django.urls import path  # noqa: F401

app_name = "reports"

urlpatterns: list = []
