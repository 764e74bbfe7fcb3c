"""Staff admin for analytics: each merchant's rollup state, with actions to refresh or rebuild its rollups.

The rollup rows themselves are derived data (millions of rows at scale): not listed here; ``manage.py
check_rollups`` compares them with the raw lines.
"""

from __future__ import annotations

from django.contrib import admin, messages

from sales.admin import ReadOnlyAdminMixin

from .models import RollupState
from .services import rollups_rebuild, rollups_refresh


@admin.register(RollupState)
class RollupStateAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("merchant", "refreshed_at", "rebuilt_at", "merges_checked_at", "days_refreshed")
    list_select_related = ("merchant",)
    search_fields = ("merchant__name", "merchant__slug")
    ordering = ("merchant__name",)
    actions = ("refresh_now", "rebuild_now")

    @admin.action(description="Refresh the dirty days now")
    def refresh_now(self, request, queryset):
        for state in queryset:
            result = rollups_refresh(merchant_id=state.merchant_id)
            self.message_user(request, f"{state.merchant}: {len(result.days)} day(s) refreshed.", messages.SUCCESS)

    @admin.action(description="Rebuild the rollups from raw lines")
    def rebuild_now(self, request, queryset):
        for state in queryset:
            result = rollups_rebuild(merchant_id=state.merchant_id)
            self.message_user(
                request,
                f"{state.merchant}: rebuilt in {result.seconds:.1f}s ({result.source_rows:,} rows).",
                messages.SUCCESS,
            )
