"""Pages of ``recommendations``, mounted under ``/m/<merchant_slug>/recommendations/``."""

from django.urls import path  # noqa: F401

app_name = "recommendations"

urlpatterns: list = []
