"""Staff admin for sales: customers (with their identifiers and merges), orders (with their lines), imports.

Everything here is read-only: orders, customers and merges are written by the ingestion service only (content
hashes, totals, rollup days and identity resolution must stay consistent), import jobs by their task. The
changelists run a fixed number of queries whatever the number of rows (``list_select_related``, counts as
correlated subqueries on indexed columns, no full count on the big tables).
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils.html import format_html

from .models import (
    Customer,
    CustomerIdentifier,
    CustomerMerge,
    ImportJob,
    ImportRowError,
    Order,
    OrderLine,
)


class ReadOnlyAdminMixin:
    """View only: staff read these rows here; the services and tasks write them."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def _count(model, **lookups) -> Coalesce:
    """COUNT(*) of ``model`` rows matching ``lookups`` (with OuterRef), as a correlated subquery."""
    counts = model._default_manager.filter(**lookups).order_by().values(*lookups).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counts, output_field=IntegerField()), 0)


def _reason_html(reason: dict) -> str:
    if not reason:
        return "—"
    kinds = ", ".join(reason.get("identifiers", [])) or "—"
    return format_html(
        "{} via order <code>{}:{}</code>", kinds, reason.get("source", ""), reason.get("external_id", "")
    )


# --- customers ----------------------------------------------------------------------------------


class CustomerIdentifierInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = CustomerIdentifier
    extra = 0
    fields = ("kind", "hint", "hash_prefix", "created_at")
    readonly_fields = fields
    ordering = ("kind", "id")

    @admin.display(description="hash")
    def hash_prefix(self, obj: CustomerIdentifier) -> str:
        return f"{obj.value_hash[:12]}…"


class MergesAbsorbedInline(ReadOnlyAdminMixin, admin.TabularInline):
    """The customers merged into this one, and why."""

    model = CustomerMerge
    fk_name = "survivor"
    verbose_name = "merged customer"
    verbose_name_plural = "customers merged into this one"
    extra = 0
    fields = ("merged", "reason_display", "created_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("merged")

    @admin.display(description="linked by")
    def reason_display(self, obj: CustomerMerge) -> str:
        return _reason_html(obj.reason)


class MergedIntoInline(MergesAbsorbedInline):
    """For a merged customer: the merge that absorbed it."""

    fk_name = "merged"
    verbose_name = "merge"
    verbose_name_plural = "merged into"
    fields = ("survivor", "reason_display", "created_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return super(MergesAbsorbedInline, self).get_queryset(request).select_related("survivor")


class MergedFilter(admin.SimpleListFilter):
    title = "merged"
    parameter_name = "merged"

    def lookups(self, request, model_admin):
        return (("no", "Active customers"), ("yes", "Merged into another"))

    def queryset(self, request, queryset):
        if self.value() == "no":
            return queryset.filter(merged_into__isnull=True)
        if self.value() == "yes":
            return queryset.filter(merged_into__isnull=False)
        return queryset


@admin.register(Customer)
class CustomerAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "display_name",
        "email",
        "merchant",
        "first_order_at",
        "orders_count",
        "identifiers_count",
        "merged_into",
    )
    list_filter = (MergedFilter, "merchant")
    list_select_related = ("merchant", "merged_into")
    search_fields = ("=id", "display_name", "email", "merchant__slug")
    show_full_result_count = False
    fields = ("merchant", "display_name", "email", "first_order_at", "merged_into", "created_at")
    readonly_fields = fields
    inlines = (CustomerIdentifierInline, MergesAbsorbedInline, MergedIntoInline)

    def get_queryset(self, request):
        # Counted with the merchant too, so the (merchant, customer) indexes serve the subqueries.
        return (
            super()
            .get_queryset(request)
            .annotate(
                orders_count=_count(Order, merchant=OuterRef("merchant"), customer=OuterRef("pk")),
                identifiers_count=_count(CustomerIdentifier, merchant=OuterRef("merchant"), customer=OuterRef("pk")),
            )
        )

    @admin.display(description="orders", ordering="orders_count")
    def orders_count(self, obj: Customer) -> int:
        return obj.orders_count

    @admin.display(description="identifiers", ordering="identifiers_count")
    def identifiers_count(self, obj: Customer) -> int:
        return obj.identifiers_count


@admin.register(CustomerMerge)
class CustomerMergeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "merchant", "survivor", "merged", "reason_display")
    list_filter = ("merchant",)
    list_select_related = ("merchant", "survivor", "merged")
    search_fields = ("=survivor__id", "=merged__id", "merchant__slug")
    date_hierarchy = "created_at"
    fields = ("created_at", "merchant", "survivor", "merged", "reason_display")
    readonly_fields = fields

    @admin.display(description="linked by")
    def reason_display(self, obj: CustomerMerge) -> str:
        return _reason_html(obj.reason)


# --- orders -------------------------------------------------------------------------------------


class OrderLineInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = OrderLine
    extra = 0
    fields = (
        "line_number",
        "kind",
        "product",
        "quantity",
        "unit_price",
        "gross",
        "discount",
        "net",
        "local_date",
        "occurred_at",
    )
    readonly_fields = fields
    ordering = ("line_number",)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("product")


class SourceFilter(admin.SimpleListFilter):
    """The usual sources, without a DISTINCT over the biggest table."""

    title = "source"
    parameter_name = "source"

    def lookups(self, request, model_admin):
        return [(source, source) for source in ("api", "shopify", "square", "csv", "jsonl", "demo")]

    def queryset(self, request, queryset):
        return queryset.filter(source=self.value()) if self.value() else queryset


@admin.register(Order)
class OrderAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "external_id",
        "source",
        "merchant",
        "channel",
        "store",
        "customer",
        "placed_at",
        "local_date",
        "status",
        "net",
        "currency",
    )
    list_filter = ("channel", "status", SourceFilter, "merchant")
    list_select_related = ("merchant", "store", "customer")
    search_fields = ("=external_id", "merchant__slug")
    show_full_result_count = False  # millions of rows: skip the second COUNT(*)
    fields = (
        ("merchant", "source", "external_id"),
        ("channel", "store", "status"),
        ("placed_at", "local_date"),
        "customer",
        ("currency", "gross", "discounts", "refunds", "net"),
        ("tax", "shipping"),
        "content_hash",
        "import_job",
        ("created_at", "updated_at"),
    )
    readonly_fields = (
        "merchant",
        "source",
        "external_id",
        "channel",
        "store",
        "status",
        "placed_at",
        "local_date",
        "customer",
        "currency",
        "gross",
        "discounts",
        "refunds",
        "net",
        "tax",
        "shipping",
        "content_hash",
        "import_job",
        "created_at",
        "updated_at",
    )
    inlines = (OrderLineInline,)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("merchant", "store", "customer", "import_job")


# --- imports ------------------------------------------------------------------------------------


@admin.register(ImportJob)
class ImportJobAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "merchant",
        "original_name",
        "format",
        "mode",
        "status",
        "progress",
        "orders_created",
        "orders_updated",
        "orders_unchanged",
        "lines_written",
        "error_count",
        "created_at",
    )
    list_filter = ("status", "format", "mode", "merchant")
    list_select_related = ("merchant",)
    search_fields = ("=id", "original_name", "file_sha256", "merchant__slug")
    date_hierarchy = "created_at"
    fields = (
        ("merchant", "created_by", "api_key"),
        ("original_name", "size_bytes", "file_sha256"),
        ("format", "mode", "status", "attempts"),
        ("progress", "rows_read"),
        ("orders_created", "orders_updated", "orders_unchanged", "lines_written"),
        ("error_count", "row_errors_link"),
        "error_message",
        "unknown_stores",
        "store_mapping",
        ("created_at", "started_at", "finished_at"),
    )
    readonly_fields = (
        "merchant",
        "created_by",
        "api_key",
        "original_name",
        "size_bytes",
        "file_sha256",
        "format",
        "mode",
        "status",
        "attempts",
        "progress",
        "rows_read",
        "orders_created",
        "orders_updated",
        "orders_unchanged",
        "lines_written",
        "error_count",
        "row_errors_link",
        "error_message",
        "unknown_stores",
        "store_mapping",
        "created_at",
        "started_at",
        "finished_at",
    )

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("merchant", "created_by", "api_key")

    @admin.display(description="progress")
    def progress(self, obj: ImportJob) -> str:
        return f"{obj.progress_percent} %"

    @admin.display(description="row errors")
    def row_errors_link(self, obj: ImportJob) -> str:
        if not obj.error_count:
            return "—"
        url = reverse("admin:sales_importrowerror_changelist") + f"?job__id__exact={obj.pk}"
        return format_html('<a href="{}">{} error(s)</a>', url, obj.error_count)


@admin.register(ImportRowError)
class ImportRowErrorAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("job", "row", "column", "value", "reason", "merchant")
    # Filtered by job through the link on the job's page (?job__id__exact=...), not a list of every job.
    list_select_related = ("job", "merchant")
    search_fields = ("=job__id", "column", "value", "reason")
    show_full_result_count = False
    fields = ("merchant", "job", "row", "column", "value", "reason")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("job", "merchant")
