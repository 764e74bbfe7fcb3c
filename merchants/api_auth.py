"""API-key authentication, scope permission, per-key throttling and the tenant mixin of the partner API.

A request carries ``Authorization: Bearer <key>``. The key resolves to exactly one merchant; views declare
the scopes they need in ``required_scopes`` (by action for viewsets, by HTTP method for APIViews) and scope
their querysets through ``self.tenant`` like the browser views do.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission
from rest_framework.throttling import SimpleRateThrottle

from .models import ApiKey, Role
from .tenancy import Tenant

LAST_USED_RESOLUTION = timedelta(minutes=1)  # don't write the key row on every request


def hash_api_key(raw_key: str) -> str:
    # Keys are 256-bit random tokens, so a fast hash is enough (no password stretching needed).
    return hashlib.sha256(raw_key.encode()).hexdigest()


class ApiKeyPrincipal:
    """Stands in for ``request.user`` on API requests: the key is the actor."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_active = True

    def __init__(self, api_key: ApiKey):
        self.api_key = api_key
        self.pk = None

    def __str__(self) -> str:
        return f"API key {self.api_key.prefix}"


class ApiKeyAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Send the key as `Authorization: Bearer <key>`.")
        raw_key = parts[1].decode("latin-1")
        api_key = ApiKey.objects.select_related("merchant").filter(key_hash=hash_api_key(raw_key)).first()
        if api_key is None:
            raise exceptions.AuthenticationFailed("Unknown API key.")
        if not api_key.is_active:
            raise exceptions.AuthenticationFailed("This API key has been revoked.")
        if not api_key.merchant.is_active:
            raise exceptions.AuthenticationFailed(
                f"Merchant {api_key.merchant.slug} is suspended; its API keys are disabled."
            )
        now = timezone.now()
        if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        return ApiKeyPrincipal(api_key), api_key

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A merchant API key."}


def required_scopes_for(view, request) -> set[str]:
    spec = getattr(view, "required_scopes", None)
    if spec is None:
        return set()
    if isinstance(spec, dict):
        key = getattr(view, "action", None) or request.method
        if key not in spec and request.method in spec:
            key = request.method
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
    """Per-key request rate (``API_RATE_LIMIT``); answers 429 with ``Retry-After``."""

    scope = "api_key"

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiKey):
            return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class TenantAPIMixin:
    """Base of every partner API view: ``self.tenant`` is the key's merchant, with full store access."""

    @property
    def tenant(self) -> Tenant:
        api_key: ApiKey = self.request.auth
        return Tenant(merchant=api_key.merchant, role=Role.ADMIN)

    @property
    def merchant(self):
        return self.request.auth.merchant
