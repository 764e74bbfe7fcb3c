"""API-key authentication, scope permission, per-key throttling and the tenant mixin of the partner API.

A request carries ``Authorization: Bearer <key>``. The key resolves to exactly one merchant; views declare
the scopes they need in ``required_scopes`` (by action for viewsets, by HTTP method for APIViews) and scope
their querysets through ``self.tenant`` like the browser views do.

Answers, all in the one error format of ``config.api``:
- no ``Authorization`` header, another scheme, a malformed header, an unknown or revoked key: 401 with
  ``WWW-Authenticate: Bearer realm="api"``;
- a key whose merchant is suspended: 403 (the key is genuine, the account is disabled: retrying with another
  key of the same merchant won't help);
- a key without the scope an operation needs: 403 naming the missing scope(s);
- more than ``API_RATE_LIMIT`` requests per key: 429 with ``Retry-After``.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission
from rest_framework.throttling import SimpleRateThrottle

from .models import ApiKey, Role
from .tenancy import Tenant

LAST_USED_RESOLUTION = timedelta(minutes=1)  # don't write the key row on every request
BEARER_HINT = "Send the key as `Authorization: Bearer <key>`."


def hash_api_key(raw_key: str) -> str:
    # Keys are 256-bit random tokens, so a fast hash is enough (no password stretching needed).
    return hashlib.sha256(raw_key.encode()).hexdigest()


class ApiKeyPrincipal:
    """Stands in for ``request.user`` on API requests: the key is the actor.

    Services receive it as ``actor``; ``merchants.services.audit_record`` records its ``api_key``.
    """

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_superuser = False
    is_active = True

    def __init__(self, api_key: ApiKey):
        self.api_key = api_key
        self.pk = None

    def __str__(self) -> str:
        return f"API key {self.api_key.prefix}"


class MerchantSuspendedError(exceptions.PermissionDenied):
    default_detail = "This merchant is suspended, so its API keys are disabled."


class ApiKeyAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request):
        header = get_authorization_header(request)
        if not header:
            return None  # the permission check answers 401 "credentials were not provided"
        parts = header.split()
        if parts[0].lower() != self.keyword:
            raise exceptions.AuthenticationFailed(f"Unsupported authorization scheme. {BEARER_HINT}")
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(f"Malformed authorization header. {BEARER_HINT}")
        try:
            raw_key = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Unknown API key.") from None
        api_key = ApiKey.objects.select_related("merchant").filter(key_hash=hash_api_key(raw_key)).first()
        if api_key is None:
            raise exceptions.AuthenticationFailed("Unknown API key.")
        if not api_key.is_active:
            raise exceptions.AuthenticationFailed("This API key has been revoked.")
        merchant = api_key.merchant
        if not merchant.is_active:
            raise MerchantSuspendedError(
                f"{merchant.name} ({merchant.slug}) is suspended, so its API keys are disabled. "
                "Contact NewRetail support to reactivate it."
            )
        now = timezone.now()
        if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
            api_key.last_used_at = now
        return ApiKeyPrincipal(api_key), api_key

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "A merchant API key, sent as `Authorization: Bearer <key>`. Owners and admins create keys in the "
                "portal (Settings → API keys) or staff with `manage.py create_api_key`; each key carries scopes."
            ),
        }


def required_scopes_for(view, request) -> set[str]:
    """The scopes the current operation needs. An operation nobody declared scopes for is refused."""
    if request.method == "OPTIONS" or getattr(view, request.method.lower(), None) is None:
        # The view answers 405 (a method it doesn't have; OPTIONS without metadata): nothing to protect,
        # and the client learns the method is wrong rather than that its key lacks a scope.
        return set()
    spec = getattr(view, "required_scopes", None)
    if spec is None:
        raise exceptions.PermissionDenied("This operation is not available to API keys.")
    if isinstance(spec, dict):
        method = "GET" if request.method == "HEAD" else request.method
        key = getattr(view, "action", None) or method
        if key not in spec and method in spec:
            key = method
        if key not in spec:
            # Fail closed: an action nobody declared a scope for is refused.
            raise exceptions.PermissionDenied("This operation is not available to API keys.")
        return set(spec[key])
    return set(spec)


class HasApiKeyScope(BasePermission):
    message = "This API key lacks the scope this operation needs."

    def has_permission(self, request, view) -> bool:
        api_key = request.auth
        if not isinstance(api_key, ApiKey):
            return False
        missing = required_scopes_for(view, request) - set(api_key.scopes)
        if missing:
            self.message = f"This API key lacks the scope(s): {', '.join(sorted(missing))}."
            return False
        return True


class ApiKeyRateThrottle(SimpleRateThrottle):
    """Per-key request rate (``API_RATE_LIMIT``, e.g. ``600/minute``); answers 429 with ``Retry-After``.

    The rate is read from settings on every request (not frozen at import like DRF's default), so it can be
    changed per environment and in tests with ``override_settings(API_RATE_LIMIT=...)``.
    """

    scope = "api_key"

    def get_rate(self) -> str:
        return settings.API_RATE_LIMIT

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiKey):
            return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class TenantAPIMixin:
    """Base of every partner API view: ``self.tenant`` is the key's merchant, with full store access.

    ``get_queryset`` reads through ``self.tenant.scope(...)``; during schema generation (no request key)
    views return ``Model.objects.none()`` instead (see ``swagger_fake_view``).
    OPTIONS answers 405: the OpenAPI schema at ``/api/schema/`` describes every operation.
    """

    metadata_class = None
    # Without "options": OPTIONS answers 405 and is not listed in the Allow header.
    http_method_names = ["get", "post", "put", "patch", "delete", "head"]

    @property
    def api_key(self) -> ApiKey:
        return self.request.auth

    @property
    def tenant(self) -> Tenant:
        return Tenant(merchant=self.api_key.merchant, role=Role.ADMIN)

    @property
    def merchant(self):
        return self.api_key.merchant
