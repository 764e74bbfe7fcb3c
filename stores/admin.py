"""Staff admin for stores. Creating and editing go through ``stores.services`` (validation, audit log);
closing and reopening are actions (``store_close``/``store_reopen``); stores are never deleted here (their
sales will point at them)."""

from django import forms
from django.contrib import admin, messages

from merchants.admin import SameMerchantFormMixin, ServiceErrorsMixin

from . import services
from .models import Store, StoreStatus
from .validation import normalize_store_code


class StoreAdminForm(SameMerchantFormMixin, forms.ModelForm):
    class Meta:
        model = Store
        fields = (
            "merchant",
            "code",
            "name",
            "opened_on",
            "address_line1",
            "address_line2",
            "postal_code",
            "city",
            "region",
            "country",
            "latitude",
            "longitude",
            "timezone",
            "opening_hours",
        )

    def clean_code(self) -> str:
        # Codes are stored upper-cased (as the service does), so the uniqueness check sees "par-01" = "PAR-01".
        return normalize_store_code(self.cleaned_data["code"])

    def clean(self):
        cleaned = super().clean()
        if (cleaned.get("latitude") is None) != (cleaned.get("longitude") is None):
            self.add_error("longitude", "Give both latitude and longitude, or neither.")
        # The merchant is read-only on existing stores, so Django's own uniqueness check skips (merchant, code).
        merchant, code = cleaned.get("merchant") or getattr(self.instance, "merchant", None), cleaned.get("code")
        if merchant is not None and code:
            clash = Store.objects.for_merchant(merchant).filter(code=code).exclude(pk=self.instance.pk).first()
            if clash is not None:
                self.add_error("code", f"The code {code} is already used by {clash.name}.")
        return cleaned


@admin.register(Store)
class StoreAdmin(ServiceErrorsMixin, admin.ModelAdmin):
    form = StoreAdminForm
    list_display = ("code", "name", "merchant", "city", "country", "timezone", "status")
    list_filter = ("status", "country")
    list_select_related = ("merchant",)
    search_fields = ("code", "name", "city", "merchant__slug")
    autocomplete_fields = ("merchant",)
    readonly_fields = ("status", "closed_on", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("merchant", "code", "name", "status", "opened_on", "closed_on")}),
        (
            "Address",
            {
                "fields": (
                    "address_line1",
                    "address_line2",
                    "postal_code",
                    "city",
                    "region",
                    "country",
                    "latitude",
                    "longitude",
                    "timezone",
                )
            },
        ),
        ("Opening hours", {"fields": ("opening_hours",)}),
        ("Dates", {"fields": ("created_at", "updated_at")}),
    )
    actions = ("close_stores", "reopen_stores")

    def get_readonly_fields(self, request, obj=None):
        # The merchant of an existing store never changes (its sales and codes belong to that merchant).
        return (*self.readonly_fields, "merchant") if obj else self.readonly_fields

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # close instead: a store with sales is never hard-deleted

    def save_model(self, request, obj, form, change):
        if change:
            store = Store.objects.get(pk=obj.pk)
            fields = {name: form.cleaned_data[name] for name in form.changed_data}
            services.store_update(store=store, actor=request.user, request=request, **fields)
        else:
            fields = {name: value for name, value in form.cleaned_data.items() if name != "merchant"}
            store = services.store_create(
                merchant=form.cleaned_data["merchant"], actor=request.user, request=request, **fields
            )
            obj.pk = store.pk
        obj.refresh_from_db()

    @admin.action(description="Close selected stores", permissions=["change"])
    def close_stores(self, request, queryset):
        open_stores = list(queryset.filter(status=StoreStatus.ACTIVE))
        for store in open_stores:
            services.store_close(store=store, actor=request.user, request=request)
        self.message_user(
            request,
            f"Closed {len(open_stores)} store(s)." if open_stores else "None of the selected stores was open.",
            messages.SUCCESS if open_stores else messages.WARNING,
        )

    @admin.action(description="Reopen selected stores", permissions=["change"])
    def reopen_stores(self, request, queryset):
        closed_stores = list(queryset.filter(status=StoreStatus.CLOSED))
        for store in closed_stores:
            services.store_reopen(store=store, actor=request.user, request=request)
        self.message_user(
            request,
            f"Reopened {len(closed_stores)} store(s)." if closed_stores else "None of the selected stores was closed.",
            messages.SUCCESS if closed_stores else messages.WARNING,
        )
