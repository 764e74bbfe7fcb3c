"""The tenancy machinery: one place that turns a request into (user, merchant, role) and scopes querysets.

Browser views inherit :class:`MerchantViewMixin`; API views inherit ``merchants.api_auth.TenantAPIMixin``.
Both scope every queryset through :meth:`Tenant.scope`, which applies ``for_merchant`` and, for a store
manager, the restriction to their assigned stores. Another merchant's object is indistinguishable from a
missing one: both answer 404.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404

from .models import Membership, Merchant, Role


class Perm(StrEnum):
    VIEW = "view"  # dashboards, lists, details
    MANAGE_SETTINGS = "manage_settings"  # brand profile, onboarding
    MANAGE_MEMBERS = "manage_members"
    MANAGE_KEYS = "manage_keys"
    MANAGE_STORES = "manage_stores"
    MANAGE_CATALOG = "manage_catalog"
    VIEW_AUDIT = "view_audit"
    MANAGE_RECOMMENDATIONS = "manage_recommendations"  # rules and recomputes (store managers: their stores' rules)
    MANAGE_SCHEDULES = "manage_schedules"  # scheduled reports


_MANAGER_PERMS = frozenset(Perm) - {Perm.VIEW_AUDIT}
ROLE_PERMISSIONS: dict[str, frozenset[Perm]] = {
    Role.OWNER: frozenset(Perm),
    Role.ADMIN: _MANAGER_PERMS,
    Role.ANALYST: frozenset({Perm.VIEW}),
    Role.STORE_MANAGER: frozenset({Perm.VIEW}),
}


class MerchantSuspended(PermissionDenied):
    """Raised for any access to a suspended merchant; rendered as a 403 page with the reason."""

    def __init__(self, merchant: Merchant):
        self.merchant = merchant
        super().__init__(
            f"{merchant.name} is suspended, so its portal and API keys are disabled. "
            "Contact NewRetail support to reactivate it."
        )


@dataclass(frozen=True)
class Tenant:
    """Who is acting, for which merchant, with which rights."""

    merchant: Merchant
    role: str
    membership: Membership | None = None
    # None means every store; a frozenset restricts reads to those store ids (store managers).
    store_ids: frozenset[int] | None = field(default=None)

    def has(self, perm: Perm) -> bool:
        return perm in ROLE_PERMISSIONS[self.role]

    def require(self, perm: Perm) -> None:
        if not self.has(perm):
            raise PermissionDenied("Your role does not allow this.")

    def scope(self, queryset: QuerySet | type[Model]) -> QuerySet:
        """Limit a queryset to this merchant and, where the model names a store, to the allowed stores.

        A model opts into the store restriction with ``tenant_store_field`` ("pk" for Store itself,
        "store" for rows that belong to a store).
        """
        if isinstance(queryset, type):
            queryset = queryset.objects.all()
        queryset = queryset.filter(merchant_id=self.merchant.pk)
        store_field = getattr(queryset.model, "tenant_store_field", None)
        if self.store_ids is not None and store_field:
            lookup = "pk__in" if store_field == "pk" else f"{store_field}_id__in"
            queryset = queryset.filter(**{lookup: self.store_ids})
        return queryset

    def get_object(self, queryset: QuerySet | type[Model], **lookup) -> Model:
        """Fetch one object within scope; 404 whether it is missing or someone else's."""
        return get_object_or_404(self.scope(queryset), **lookup)


def tenant_for_user(user, slug: str) -> Tenant:
    """Resolve the merchant named in a browser URL for a signed-in user, or raise 404 / MerchantSuspended."""
    if not user.is_authenticated:
        raise Http404
    membership = Membership.objects.select_related("merchant").filter(user=user, merchant__slug=slug).first()
    if membership is None:
        raise Http404("No such merchant.")
    merchant = membership.merchant
    if not merchant.is_active:
        raise MerchantSuspended(merchant)
    store_ids = None
    if membership.role == Role.STORE_MANAGER:
        store_ids = frozenset(membership.stores.values_list("pk", flat=True))
    return Tenant(merchant=merchant, role=membership.role, membership=membership, store_ids=store_ids)


class MerchantViewMixin(LoginRequiredMixin):
    """Base of every page under ``/m/<merchant_slug>/``: resolves ``self.tenant`` and checks the permission.

    Set ``permission`` (a :class:`Perm`) on the view; reads default to ``Perm.VIEW``.
    ``permission_by_method`` may raise the bar for POST (e.g. a page anyone reads but only admins change).
    """

    permission: Perm = Perm.VIEW
    permission_by_method: dict[str, Perm] = {}

    tenant: Tenant
    request: HttpRequest

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.tenant = tenant_for_user(request.user, kwargs["merchant_slug"])
        request.tenant = self.tenant
        self.tenant.require(self.permission_by_method.get(request.method, self.permission))
        return super().dispatch(request, *args, **kwargs)

    @property
    def merchant(self) -> Merchant:
        return self.tenant.merchant

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["tenant"] = self.tenant
        context["merchant"] = self.tenant.merchant
        return context
