"""``/api/v1/`` routes of ``reports``."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
