"""The OpenAPI generator of the partner API (drf-spectacular + drf-standardized-errors' error responses).

Kept apart from ``config/api.py``: DRF imports the pagination class while it is still loading, and the schema
generator imports DRF's generic views, so the two cannot share a module.
"""

from drf_standardized_errors.openapi import AutoSchema as StandardizedErrorsAutoSchema

BODYLESS_METHODS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})


class AutoSchema(StandardizedErrorsAutoSchema):
    """Documents parse errors (400) and unsupported media types (415) only on operations that read a body."""

    def _should_add_parse_error_response(self) -> bool:
        return self.method not in BODYLESS_METHODS and super()._should_add_parse_error_response()

    def _should_add_http415_error_response(self) -> bool:
        return self.method not in BODYLESS_METHODS and super()._should_add_http415_error_response()
