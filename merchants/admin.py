"""Staff admin for merchants, memberships, invitations, API keys and the audit log.

Staff find anything here, but state changes that matter go through ``merchants.services`` (and so reach
the audit log): suspending/reactivating a merchant, changing a role, removing a member, revoking an
invitation or a key. Those fields are read-only in the forms and change only through the actions.
Merchants are created by sign-up or ``manage.py create_merchant`` (a merchant needs an owner), never deleted
here (suspend instead).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.db.models import Count, IntegerField, Model, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html_join

from stores.models import Store

from .models import (
    ApiKey,
    AuditAction,
    AuditEvent,
    Invitation,
    Membership,
    Merchant,
    MerchantStatus,
    Role,
)
from .services import (
    api_key_revoke,
    audit_record,
    invitation_revoke,
    membership_change_role,
    membership_remove,
    merchant_set_status,
    merchant_update,
)

# --- shared helpers (also used by stores/ and catalog/ admins) -------------------------------


def count_subquery(model: type[Model], field: str = "merchant") -> Coalesce:
    """``COUNT(*)`` of ``model`` rows pointing at the outer row, as a correlated subquery.

    Two ``Count()`` joins on one queryset multiply each other; a subquery per count stays exact and avoids
    an N+1 in the changelist.
    """
    counts = (
        model._default_manager.filter(**{field: OuterRef("pk")})
        .order_by()
        .values(field)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), 0)


class SameMerchantFormMixin:
    """Refuses a related object (FK or M2M) that belongs to another merchant than the edited row."""

    def clean(self):
        cleaned = super().clean()
        merchant = cleaned.get("merchant") or getattr(self.instance, "merchant", None)
        if merchant is None:
            return cleaned
        for name, value in list(cleaned.items()):
            if name == "merchant" or value is None:
                continue
            related = list(value) if isinstance(value, QuerySet) else [value]
            if any(
                isinstance(obj, Model) and getattr(obj, "merchant_id", merchant.pk) != merchant.pk for obj in related
            ):
                self.add_error(name, f"Choose only objects that belong to {merchant}.")
        return cleaned


class ServiceErrorsMixin:
    """The forms check what they can field by field; should a service still refuse the save (a rule only it
    knows, a concurrent change), the admin says why instead of answering 500. Nothing is saved: the change
    view's transaction is rolled back."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ValidationError as error:
            self.message_user(request, f"Not saved: {' '.join(error.messages)}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


class AuditedDeleteMixin:
    """Admin deletions of tenant rows go to the merchant's audit log, like every other deletion."""

    def _audit_delete(self, request: HttpRequest, obj: Model) -> None:
        audit_record(
            action=AuditAction.DELETED,
            merchant=getattr(obj, "merchant", None),
            actor=request.user,
            target=str(obj),
            request=request,
            data={"model": obj._meta.label, "pk": obj.pk, "via": "admin"},
        )

    def delete_model(self, request, obj):
        self._audit_delete(request, obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset.select_related("merchant"):
            self._audit_delete(request, obj)
        super().delete_queryset(request, queryset)


# --- merchants ------------------------------------------------------------------------------


class MembershipInline(admin.TabularInline):
    """Who belongs to the merchant. Read-only: roles change on the membership page (through the service)."""

    model = Membership
    fk_name = "merchant"
    extra = 0
    can_delete = False
    fields = ("user", "role", "created_at")
    readonly_fields = fields
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class ApiKeyInline(admin.TabularInline):
    """The merchant's keys. The hash is never shown; keys are created by the merchant or ``create_api_key``."""

    model = ApiKey
    extra = 0
    can_delete = False
    fields = ("name", "prefix", "scopes", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class SuspendForm(forms.Form):
    reason = forms.CharField(
        max_length=255,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Shown to the merchant's users and recorded in the audit log.",
    )


@admin.register(Merchant)
class MerchantAdmin(ServiceErrorsMixin, admin.ModelAdmin):
    list_display = (
        "name",
        "slug",
        "currency",
        "timezone",
        "status",
        "stores_count",
        "members_count",
        "created_at",
    )
    list_filter = ("status", "currency", "onboarding_step")
    search_fields = ("name", "slug")
    ordering = ("name",)
    date_hierarchy = "created_at"
    readonly_fields = ("slug", "status", "suspended_reason", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("name", "slug", "currency", "timezone", "onboarding_step")}),
        ("Status", {"fields": ("status", "suspended_reason"), "description": "Change with the list actions."}),
        ("Dates", {"fields": ("created_at", "updated_at")}),
    )
    inlines = (MembershipInline, ApiKeyInline)
    actions = ("suspend_merchants", "reactivate_merchants")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(stores_count=count_subquery(Store), members_count=count_subquery(Membership))
        )

    @admin.display(description="stores", ordering="stores_count")
    def stores_count(self, obj: Merchant) -> int:
        return obj.stores_count

    @admin.display(description="members", ordering="members_count")
    def members_count(self, obj: Merchant) -> int:
        return obj.members_count

    def has_add_permission(self, request) -> bool:
        return False  # a merchant needs an owner: sign-up or `manage.py create_merchant`

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # suspend instead; deleting would cascade to every store and sale

    def save_model(self, request, obj, form, change):
        current = Merchant.objects.get(pk=obj.pk)
        merchant_update(
            merchant=current,
            actor=request.user,
            request=request,
            **{name: form.cleaned_data[name] for name in form.changed_data},
        )
        obj.refresh_from_db()

    @admin.action(description="Suspend selected merchants…", permissions=["change"])
    def suspend_merchants(self, request, queryset):
        # Two steps, like Django's delete confirmation: ask for the reason, then apply it.
        if "apply" in request.POST:
            form = SuspendForm(request.POST)
            if form.is_valid():
                suspended = [
                    merchant_set_status(
                        merchant=merchant,
                        status=MerchantStatus.SUSPENDED,
                        actor=request.user,
                        reason=form.cleaned_data["reason"],
                        request=request,
                    )
                    for merchant in queryset.filter(status=MerchantStatus.ACTIVE)
                ]
                slugs = ", ".join(sorted(merchant.slug for merchant in suspended)) or "none"
                self.message_user(
                    request,
                    f"Suspended {len(suspended)} merchant(s): {slugs}.",
                    messages.SUCCESS if suspended else messages.WARNING,
                )
                return None
        else:
            form = SuspendForm()
        return TemplateResponse(
            request,
            "admin/merchants/merchant/suspend_confirmation.html",
            {
                **self.admin_site.each_context(request),
                "title": "Suspend merchants",
                "opts": self.model._meta,
                "merchants": queryset,
                "form": form,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "action": "suspend_merchants",
            },
        )

    @admin.action(description="Reactivate selected merchants", permissions=["change"])
    def reactivate_merchants(self, request, queryset):
        reactivated = [
            merchant_set_status(merchant=merchant, status=MerchantStatus.ACTIVE, actor=request.user, request=request)
            for merchant in queryset.filter(status=MerchantStatus.SUSPENDED)
        ]
        slugs = ", ".join(sorted(merchant.slug for merchant in reactivated)) or "none"
        self.message_user(
            request,
            f"Reactivated {len(reactivated)} merchant(s): {slugs}.",
            messages.SUCCESS if reactivated else messages.WARNING,
        )


# --- memberships ----------------------------------------------------------------------------


class MembershipAdminForm(SameMerchantFormMixin, forms.ModelForm):
    class Meta:
        model = Membership
        fields = ("role", "stores")

    def clean(self):
        cleaned = super().clean()
        role = cleaned.get("role")
        if self.instance.role == Role.OWNER and role and role != Role.OWNER:
            others = Membership.objects.for_merchant(self.instance.merchant_id).filter(role=Role.OWNER)
            if not others.exclude(pk=self.instance.pk).exists():
                self.add_error("role", "A merchant must keep at least one owner: make someone else owner first.")
        return cleaned


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    form = MembershipAdminForm
    list_display = ("user", "merchant", "role", "created_at")
    list_filter = ("role", "merchant")
    list_select_related = ("user", "merchant")
    search_fields = ("user__email", "user__full_name", "merchant__slug", "merchant__name")
    fields = ("user", "merchant", "role", "stores", "created_at")
    readonly_fields = ("user", "merchant", "created_at")
    autocomplete_fields = ("stores",)
    actions = ("remove_memberships",)

    def has_add_permission(self, request) -> bool:
        return False  # members join by invitation (or sign-up / create_merchant for owners)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the "remove" action goes through the service (last-owner rule, audit)

    def save_model(self, request, obj, form, change):
        membership_change_role(
            membership=obj,
            role=form.cleaned_data["role"],
            stores=form.cleaned_data.get("stores") or [],
            actor=request.user,
            request=request,
        )
        obj.refresh_from_db()

    def save_related(self, request, form, formsets, change):
        # The service has set the stores (and cleared them for roles other than store manager).
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    @admin.action(description="Remove selected memberships", permissions=["change"])
    def remove_memberships(self, request, queryset):
        removed, refused = 0, []
        for membership in queryset:
            try:
                membership_remove(membership=membership, actor=request.user, request=request)
                removed += 1
            except ValidationError as error:
                refused.append(f"{membership.user} of {membership.merchant}: {' '.join(error.messages)}")
        if removed:
            self.message_user(request, f"Removed {removed} membership(s).", messages.SUCCESS)
        for message in refused:
            self.message_user(request, f"Not removed — {message}", messages.ERROR)


# --- invitations ----------------------------------------------------------------------------


class InvitationStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("pending", "Pending"), ("accepted", "Accepted"), ("revoked", "Revoked"), ("expired", "Expired")]

    def queryset(self, request, queryset):
        now = timezone.now()
        open_ = Q(accepted_at__isnull=True, revoked_at__isnull=True)
        conditions = {
            "pending": open_ & Q(expires_at__gt=now),
            "accepted": Q(accepted_at__isnull=False),
            "revoked": Q(accepted_at__isnull=True, revoked_at__isnull=False),
            "expired": open_ & Q(expires_at__lte=now),
        }
        return queryset.filter(conditions[self.value()]) if self.value() in conditions else queryset


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ("email", "merchant", "role", "state", "invited_by", "created_at", "expires_at")
    list_filter = (InvitationStateFilter, "role", "merchant")
    list_select_related = ("merchant", "invited_by")
    search_fields = ("email", "merchant__slug", "merchant__name")
    date_hierarchy = "created_at"
    # The token hash is a credential: never shown.
    fields = (
        "email",
        "merchant",
        "role",
        "stores",
        "state",
        "invited_by",
        "created_at",
        "expires_at",
        "accepted_at",
        "accepted_by",
        "revoked_at",
    )
    readonly_fields = fields
    actions = ("revoke_invitations",)

    @admin.display(description="state")
    def state(self, obj: Invitation) -> str:
        return obj.state

    def has_add_permission(self, request) -> bool:
        return False  # the invitee needs the e-mailed token: invite from the merchant's members page

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoke instead: the history stays

    @admin.action(description="Revoke selected invitations", permissions=["change"])
    def revoke_invitations(self, request, queryset):
        pending = [invitation for invitation in queryset if invitation.is_pending]
        for invitation in pending:
            invitation_revoke(invitation=invitation, actor=request.user, request=request)
        self.message_user(
            request,
            f"Revoked {len(pending)} pending invitation(s)."
            if pending
            else "None of the selected invitations was pending.",
            messages.SUCCESS if pending else messages.WARNING,
        )


# --- API keys -------------------------------------------------------------------------------


class ApiKeyStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("revoked", "Revoked")]

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are read-only here (their hash is never shown); staff can only revoke them."""

    list_display = ("name", "merchant", "prefix", "scope_list", "created_at", "last_used_at", "revoked_at")
    list_filter = (ApiKeyStateFilter, "merchant")
    list_select_related = ("merchant",)
    search_fields = ("name", "prefix", "merchant__slug", "merchant__name")
    date_hierarchy = "created_at"
    fields = ("name", "merchant", "prefix", "scope_list", "created_by", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    actions = ("revoke_keys",)

    @admin.display(description="scopes")
    def scope_list(self, obj: ApiKey) -> str:
        return ", ".join(obj.scopes or [])

    def has_add_permission(self, request) -> bool:
        return False  # the raw key is shown once: the merchant's API keys page or `manage.py create_api_key`

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoke instead: audit events keep pointing at the key

    @admin.action(description="Revoke selected API keys", permissions=["change"])
    def revoke_keys(self, request, queryset):
        active = list(queryset.filter(revoked_at__isnull=True))
        for api_key in active:
            api_key_revoke(api_key=api_key, actor=request.user, request=request)
        self.message_user(
            request,
            f"Revoked {len(active)} API key(s)." if active else "None of the selected keys was active.",
            messages.SUCCESS if active else messages.WARNING,
        )


# --- audit log ------------------------------------------------------------------------------


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The audit log is append-only: staff read it, nobody adds, changes or deletes rows here."""

    list_display = ("created_at", "merchant", "actor_display", "action", "target", "ip_address")
    list_filter = ("action", "merchant")
    list_select_related = ("merchant", "actor", "api_key")
    show_full_result_count = False  # the biggest table here: skip the second COUNT(*)
    search_fields = ("target", "actor__email", "merchant__slug", "merchant__name", "ip_address")
    date_hierarchy = "created_at"
    fields = ("created_at", "merchant", "actor", "api_key", "action", "target", "ip_address", "data_display")
    readonly_fields = fields

    @admin.display(description="actor")
    def actor_display(self, obj: AuditEvent) -> str:
        return obj.actor_label

    @admin.display(description="data")
    def data_display(self, obj: AuditEvent) -> str:
        if not obj.data:
            return "—"
        items = obj.data.items() if isinstance(obj.data, dict) else [("value", obj.data)]
        return format_html_join("", "<div><strong>{}</strong>: {}</div>", ((k, v) for k, v in items))

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
