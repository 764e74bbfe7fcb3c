"""Merchants (the tenants), who may act for them (memberships, invitations, API keys), and the audit log.

Every tenant-owned model elsewhere inherits :class:`TenantModel`: a non-null ``merchant`` foreign key
and the manager whose ``for_merchant(m)`` is the one way to scope a query (see ``merchants/tenancy.py``).
"""

from __future__ import annotations

import zoneinfo

from babel.numbers import list_currencies
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

# --- validators shared by forms, serializers and CSV imports ---------------------------------

TIMEZONE_NAMES = frozenset(zoneinfo.available_timezones())
CURRENCY_CODES = frozenset(list_currencies())


def validate_timezone(value: str) -> None:
    if value not in TIMEZONE_NAMES:
        raise ValidationError(
            "“%(value)s” is not an IANA time zone (for example Europe/Paris).",
            params={"value": value},
            code="invalid_timezone",
        )


def validate_currency(value: str) -> None:
    if value not in CURRENCY_CODES:
        raise ValidationError(
            "“%(value)s” is not an ISO 4217 currency code (for example EUR).",
            params={"value": value},
            code="invalid_currency",
        )


slug_validator = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$",
    "Use 1–50 lower-case letters, digits and hyphens, not starting or ending with a hyphen.",
)

RESERVED_SLUGS = frozenset({"new", "admin", "api", "static", "media", "settings", "onboarding"})


# --- tenancy base -----------------------------------------------------------------------------


class TenantQuerySet(models.QuerySet):
    def for_merchant(self, merchant: Merchant | int) -> TenantQuerySet:
        merchant_id = merchant if isinstance(merchant, int) else merchant.pk
        return self.filter(merchant_id=merchant_id)


class TenantManager(models.Manager.from_queryset(TenantQuerySet)):  # type: ignore[misc]
    pass


class TenantModel(models.Model):
    """Abstract base of every tenant-owned table: it carries ``merchant`` and the scoping manager."""

    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.CASCADE, related_name="+")

    objects = TenantManager()

    class Meta:
        abstract = True


# --- merchants ------------------------------------------------------------------------------


class MerchantStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"


class OnboardingStep(models.TextChoices):
    PROFILE = "profile", "Brand profile"
    STORES = "stores", "Stores"
    DATA = "data", "Connect sales data"
    DONE = "done", "Done"


class Merchant(models.Model):
    name = models.CharField(max_length=150)
    slug = models.SlugField(max_length=50, unique=True, validators=[slug_validator])
    currency = models.CharField(max_length=3, default="EUR", validators=[validate_currency])
    timezone = models.CharField(max_length=64, default="Europe/Paris", validators=[validate_timezone])
    status = models.CharField(max_length=16, choices=MerchantStatus.choices, default=MerchantStatus.ACTIVE)
    suspended_reason = models.CharField(max_length=255, blank=True)
    onboarding_step = models.CharField(max_length=16, choices=OnboardingStep.choices, default=OnboardingStep.PROFILE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status == MerchantStatus.ACTIVE

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    ANALYST = "analyst", "Analyst"
    STORE_MANAGER = "store_manager", "Store manager"


class Membership(TenantModel):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    # Only meaningful for store managers: the stores they may see.
    stores = models.ManyToManyField("stores.Store", blank=True, related_name="manager_memberships")
    created_at = models.DateTimeField(auto_now_add=True)

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="memberships")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["merchant", "user"], name="membership_unique_user")]
        ordering = ["merchant_id", "user__email"]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} of {self.merchant}"


class Invitation(TenantModel):
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices)
    stores = models.ManyToManyField("stores.Store", blank=True, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["merchant", "email"])]

    def __str__(self) -> str:
        return f"Invitation of {self.email} to {self.merchant}"

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > timezone.now()

    @property
    def state(self) -> str:
        if self.accepted_at:
            return "accepted"
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "pending"


class ApiScope(models.TextChoices):
    STORES_READ = "stores:read", "Read stores"
    STORES_WRITE = "stores:write", "Create and change stores"
    CATALOG_READ = "catalog:read", "Read products and categories"
    CATALOG_WRITE = "catalog:write", "Create and change products"
    SALES_READ = "sales:read", "Read orders and imports"
    SALES_WRITE = "sales:write", "Send orders and import sales files"
    ANALYTICS_READ = "analytics:read", "Read dashboard figures"
    RECOMMENDATIONS_READ = "recommendations:read", "Read recommendations and their rules"
    RECOMMENDATIONS_WRITE = "recommendations:write", "Change recommendation rules and recompute suggestions"
    REPORTS_READ = "reports:read", "Read and download reports"
    REPORTS_WRITE = "reports:write", "Order and cancel reports"


class ApiKey(TenantModel):
    """A partner's credential. The secret is shown once; only its SHA-256 and a visible prefix are kept."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class AuditAction(models.TextChoices):
    SIGN_IN_FAILED = "auth.sign_in_failed", "Sign-in failed"
    SIGN_IN_LOCKED = "auth.locked_out", "Sign-in locked out"
    SIGNED_UP = "auth.signed_up", "Signed up"
    MERCHANT_CREATED = "merchant.created", "Merchant created"
    MERCHANT_UPDATED = "merchant.updated", "Settings changed"
    MERCHANT_SUSPENDED = "merchant.suspended", "Merchant suspended"
    MERCHANT_REACTIVATED = "merchant.reactivated", "Merchant reactivated"
    MEMBER_INVITED = "member.invited", "Member invited"
    INVITATION_REVOKED = "member.invitation_revoked", "Invitation revoked"
    MEMBER_JOINED = "member.joined", "Member joined"
    MEMBER_ROLE_CHANGED = "member.role_changed", "Member role changed"
    MEMBER_REMOVED = "member.removed", "Member removed"
    API_KEY_CREATED = "api_key.created", "API key created"
    API_KEY_REVOKED = "api_key.revoked", "API key revoked"
    STORE_CREATED = "store.created", "Store created"
    STORE_UPDATED = "store.updated", "Store updated"
    STORE_CLOSED = "store.closed", "Store closed"
    STORES_IMPORTED = "store.imported", "Stores imported"
    PRODUCT_CREATED = "product.created", "Product created"
    PRODUCT_UPDATED = "product.updated", "Product updated"
    PRODUCTS_IMPORTED = "product.imported", "Products imported"
    RECOMMENDATION_RULE_CREATED = "recommendation_rule.created", "Recommendation rule created"
    RECOMMENDATION_RULE_UPDATED = "recommendation_rule.updated", "Recommendation rule updated"
    RECOMMENDATION_RULE_DELETED = "recommendation_rule.deleted", "Recommendation rule deleted"
    RECOMMENDATION_RULES_IMPORTED = "recommendation_rule.imported", "Recommendation rules imported"
    RECOMMENDATIONS_COMPUTE_REQUESTED = "recommendations.compute_requested", "Recommendations recompute requested"
    DELETED = "object.deleted", "Deleted"


class AuditEvent(models.Model):
    """Append-only record of a security-relevant event. ``merchant`` is null for events with no tenant
    (a failed sign-in)."""

    merchant = models.ForeignKey(Merchant, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL)
    action = models.CharField(max_length=40, choices=AuditAction.choices)
    target = models.CharField(max_length=255, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = TenantManager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["merchant", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action} {self.target}"

    @property
    def actor_label(self) -> str:
        if self.actor_id:
            return str(self.actor)
        if self.api_key_id:
            return f"API key {self.api_key}"
        return self.data.get("email", "—") if isinstance(self.data, dict) else "—"
