"""``/api/v1/`` routes of ``recommendations``."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
