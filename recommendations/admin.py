"""Staff views of recommendations: rules and computation jobs (read-only: the editor, the API and the jobs write
them, validated and audited), the per-merchant current computation, and a "compute again" action."""

from __future__ import annotations

from django.contrib import admin, messages

from .models import RecommendationJob, RecommendationRule, RecommendationState
from .services import recommendation_compute_request


class ReadOnlyAdminMixin:
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(RecommendationRule)
class RecommendationRuleAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "merchant", "kind", "product", "category", "target", "position", "channel", "starts_on",
                    "ends_on", "updated_at")  # fmt: skip
    list_filter = ("kind", "channel", "merchant")
    list_select_related = ("merchant", "product", "category", "target")
    search_fields = ("=id", "merchant__slug", "product__sku", "target__sku", "category__name")
    raw_id_fields = ("product", "category", "target", "created_by")


@admin.register(RecommendationJob)
class RecommendationJobAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "merchant", "status", "trigger", "progress_percent", "window_start", "window_end",
                    "baskets_count", "suggestions_count", "attempts", "created_at", "finished_at")  # fmt: skip
    list_filter = ("status", "trigger", "merchant")
    list_select_related = ("merchant",)
    search_fields = ("=id", "merchant__slug")
    date_hierarchy = "created_at"
    actions = ["compute_again"]

    @admin.action(description="Compute these merchants' recommendations again")
    def compute_again(self, request, queryset):
        merchants = {job.merchant for job in queryset.select_related("merchant")}
        for merchant in merchants:
            recommendation_compute_request(merchant=merchant, actor=request.user, request=request)
        self.message_user(request, f"Computation requested for {len(merchants)} merchant(s).", messages.SUCCESS)


@admin.register(RecommendationState)
class RecommendationStateAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("merchant", "current_job", "computed_at", "updated_at")
    list_select_related = ("merchant", "current_job")
