"""Shared REST framework pieces of the partner API: pagination, the one error format, the 404/500 fallbacks.

Every error under ``/api/`` has one shape (drf-standardized-errors)::

    {"type": "validation_error" | "client_error" | "server_error",
     "errors": [{"code": "...", "detail": "...", "attr": "field.path" | null}]}

``attr`` names the offending field for validation errors, with list indexes in the path
(``products.12.price``). DRF's own errors (401, 403, 404, 405, 406, 415, 429, parse errors), Django's
``ValidationError`` raised by a service, unknown URLs under ``/api/`` and unhandled exceptions all use it.
"""

from __future__ import annotations

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import JsonResponse
from django.urls import Resolver404, resolve
from drf_standardized_errors.handler import ExceptionHandler as StandardizedExceptionHandler
from rest_framework import exceptions
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny
from rest_framework.serializers import as_serializer_error
from rest_framework.settings import api_settings
from rest_framework.views import APIView


class StandardPagination(PageNumberPagination):
    """``?page=N&page_size=M`` (default 100, at most 1,000); answers ``{count, next, previous, results}``."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class ExceptionHandler(StandardizedExceptionHandler):
    """drf-standardized-errors' handler, also turning a service's Django ``ValidationError`` into a 400."""

    def convert_known_exceptions(self, exc: Exception) -> Exception:
        if isinstance(exc, DjangoValidationError):
            detail = as_serializer_error(exc)
            if NON_FIELD_ERRORS in detail:
                detail[api_settings.NON_FIELD_ERRORS_KEY] = detail.pop(NON_FIELD_ERRORS)
            return exceptions.ValidationError(detail)
        return super().convert_known_exceptions(exc)


def _not_found_detail(path: str) -> str:
    if not path.endswith("/"):
        try:
            resolved = resolve(path + "/")
        except Resolver404:
            resolved = None
        if resolved is not None and getattr(resolved.func, "view_class", None) is not ApiNotFoundView:
            return f"No API endpoint at {path}. Did you mean {path}/? API URLs end with a slash."
    return f"No API endpoint at {path}. The operations are listed at /api/docs/."


class ApiNotFoundView(APIView):
    """Catch-all under ``/api/``: an unknown URL answers a JSON 404 (any method, with or without a key)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []
    metadata_class = None
    schema = None  # not an operation: left out of the OpenAPI schema

    def initial(self, request, *args, **kwargs):
        raise exceptions.NotFound(_not_found_detail(request.path))


def server_error(request, *args, **kwargs):
    """``handler500``: the API's error format under ``/api/``, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        body = {"type": "server_error", "errors": [{"code": "error", "detail": "Server Error (500)", "attr": None}]}
        return JsonResponse(body, status=500)
    from django.views.defaults import server_error as django_server_error

    return django_server_error(request, *args, **kwargs)
