"""Serializers of the recommendations API: the resolver's answer, rules (input and output apart) and jobs."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from .models import RecommendationJob, RecommendationRule, RuleChannel, RuleKind
from .rules import MAX_PINS_PER_SCOPE, rule_warnings
from .selectors import MAX_LIMIT

# --- GET /api/v1/recommendations/ -------------------------------------------------------------


class RecommendationQuerySerializer(serializers.Serializer):
    product = serializers.CharField(
        required=False,
        help_text="SKU of the product the shopper is looking at (case-sensitive). Without it, `customer` is required "
        "and the answer is that customer's next-purchase list.",
    )
    store = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="Code of the store the shopper is in (kiosk, clienteling tablet). Empty: no store.",
    )
    channel = serializers.ChoiceField(
        choices=["online", "offline"],
        required=False,
        help_text="Where the shopper is. A store without a channel means in store (offline).",
    )
    customer = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=320,
        help_text="Any identifier the order ingestion accepts (e-mail, phone, loyalty number, POS customer id, online "
        "account id), hashed the same way; what the customer already bought is left out. With a product, an "
        "unknown customer is ignored; without one, the answer is what the customer may buy next (bought later "
        "after their last order and their orders of the 30 days before), or for an unknown customer trending and "
        "bestsellers, with a note.",
    )
    limit = serializers.IntegerField(
        required=False, default=10, min_value=1, max_value=MAX_LIMIT, help_text="How many items (1 to 50)."
    )

    def validate(self, attrs):
        if not attrs.get("product") and not attrs.get("customer"):
            raise serializers.ValidationError(
                {"product": [serializers.ErrorDetail("This field is required.", code="required")]}
            )
        return attrs


class ReasonSerializer(serializers.Serializer):
    """Why an item is shown. The evidence fields present depend on ``kind``."""

    kind = serializers.ChoiceField(choices=["pinned", "bought_together", "bought_later", "trending", "bestseller"])
    rule = serializers.IntegerField(required=False, help_text="pinned: the rule's id.")
    rule_for = serializers.ChoiceField(
        choices=["product", "category"], required=False, help_text="pinned: a rule of the product or its category."
    )
    shared_baskets = serializers.IntegerField(required=False, help_text="bought_together: baskets with both.")
    customers = serializers.IntegerField(required=False, help_text="bought_later: customers who bought it later.")
    follows = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="bought_later in a customer's list: SKUs of the products of the customer's orders it follows.",
    )
    confidence = serializers.FloatField(required=False, help_text="Share (0..1) of baskets/customers with it.")
    lift = serializers.FloatField(required=False, help_text="Confidence divided by the item's own popularity.")
    baskets_offline = serializers.IntegerField(required=False, help_text="bought_together: shared in-store baskets.")
    baskets_online = serializers.IntegerField(required=False, help_text="bought_together: shared online baskets.")


class RecommendationItemSerializer(serializers.Serializer):
    sku = serializers.CharField()
    name = serializers.CharField()
    price = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    score = serializers.FloatField(allow_null=True, help_text="The learnt score; null for pins.")
    reason = ReasonSerializer()
    scope = serializers.CharField(
        help_text="Where the item's list came from: `all`, `online`, `offline` or `store:<CODE>`."
    )


class RecommendationSerializer(serializers.Serializer):
    product = serializers.CharField(
        source="sku", allow_null=True, help_text="The SKU asked about; null for a customer's next-purchase list."
    )
    computed_at = serializers.DateTimeField(
        allow_null=True, help_text="When the learnt suggestions in use were computed; null if never."
    )
    learnt_scope = serializers.CharField(
        allow_null=True, help_text="The most specific learnt list used (`store:<CODE>`, `offline`, `all`...)."
    )
    fallback = serializers.BooleanField(
        help_text="True when the store or channel asked for had too little support for its own learnt list."
    )
    notes = serializers.ListField(child=serializers.CharField())
    results = RecommendationItemSerializer(many=True, source="items")


# --- rules ---------------------------------------------------------------------------------------


class RuleInputSerializer(serializers.Serializer):
    """A rule as a partner sends it. Products by SKU, the category by name, stores by code."""

    kind = serializers.ChoiceField(choices=RuleKind.choices)
    product = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, help_text="SKU of the product (pin, exclude)."
    )
    category = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="…or the category name, for every product of it. A block has neither.",
    )
    target = serializers.CharField(help_text="SKU of the product pinned, excluded or blocked.")
    position = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        help_text=f"Pins only: its place, from 1. Default: after the last pin of its scope ({MAX_PINS_PER_SCOPE} "
        "at most per scope); the other pins move to make room.",
    )
    channel = serializers.ChoiceField(choices=RuleChannel.choices, required=False, default=RuleChannel.ALL)
    stores = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        default=list,
        help_text="Store codes: the rule applies in those stores only (then `channel` is `all` or `offline`).",
    )
    starts_on = serializers.DateField(required=False, allow_null=True, help_text="First day, merchant's time zone.")
    ends_on = serializers.DateField(required=False, allow_null=True, help_text="Last day (included).")


class RuleSerializer(serializers.ModelSerializer):
    product = serializers.SerializerMethodField()
    product_name = serializers.SerializerMethodField()
    category = serializers.SerializerMethodField()
    target = serializers.CharField(source="target.sku")
    target_name = serializers.CharField(source="target.name")
    position = serializers.SerializerMethodField()
    stores = serializers.SerializerMethodField()
    warnings = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()

    class Meta:
        model = RecommendationRule
        fields = [
            "id",
            "url",
            "kind",
            "product",
            "product_name",
            "category",
            "target",
            "target_name",
            "position",
            "channel",
            "stores",
            "starts_on",
            "ends_on",
            "warnings",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_product(self, rule: RecommendationRule) -> str | None:
        return rule.product.sku if rule.product_id else None

    @extend_schema_field(OpenApiTypes.STR)
    def get_product_name(self, rule: RecommendationRule) -> str | None:
        return rule.product.name if rule.product_id else None

    @extend_schema_field(OpenApiTypes.STR)
    def get_category(self, rule: RecommendationRule) -> str | None:
        return rule.category.name if rule.category_id else None

    @extend_schema_field(OpenApiTypes.INT)
    def get_position(self, rule: RecommendationRule) -> int | None:
        return rule.position if rule.kind == RuleKind.PIN else None

    def get_stores(self, rule: RecommendationRule) -> list[str]:
        return sorted(store.code for store in rule.stores.all())

    def get_warnings(self, rule: RecommendationRule) -> list[str]:
        return rule_warnings(rule)

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, rule: RecommendationRule) -> str:
        return reverse("api:recommendation-rule-detail", kwargs={"pk": rule.pk}, request=self.context.get("request"))


# --- jobs ------------------------------------------------------------------------------------------


class JobSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    progress_percent = serializers.IntegerField(min_value=0, max_value=100)

    class Meta:
        model = RecommendationJob
        fields = [
            "id",
            "url",
            "status",
            "trigger",
            "progress_percent",
            "progress_done",
            "progress_total",
            "progress_step",
            "window_days",
            "window_start",
            "window_end",
            "lines_read",
            "baskets_count",
            "customers_count",
            "products_count",
            "products_with_suggestions",
            "suggestions_count",
            "store_scopes",
            "error_message",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, job: RecommendationJob) -> str:
        return reverse("api:recommendation-job-detail", kwargs={"pk": job.pk}, request=self.context.get("request"))


def rule_input_values(validated: dict[str, Any]) -> dict[str, Any]:
    """The service's keyword arguments from validated input (blank product/category count as absent)."""
    values = dict(validated)
    for name in ("product", "category"):
        if name in values and values[name] in ("", None):
            values[name] = None
    return values
