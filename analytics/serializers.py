"""Output serializers of the analytics API: they only format what ``analytics.selectors`` returns. Money is a
decimal string in the merchant's currency; shares and changes are decimal strings (0.1234 = 12.34 %)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from analytics.selectors import METRICS


@extend_schema_field({"type": "string", "format": "decimal", "example": "1234.50"})
class DecimalStringField(serializers.Field):
    """A Decimal as given (money with 2 places, units with 3, counts with none), as a string."""

    def to_representation(self, value) -> str:
        return str(value)


def money(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=18, decimal_places=2, **kwargs)


def share(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=12, decimal_places=4, allow_null=True, **kwargs)


def units(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=18, decimal_places=3, **kwargs)


class MerchantContextSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    currency = serializers.CharField(help_text="ISO 4217: every amount is in this currency.")
    timezone = serializers.CharField(help_text="Online sales count on the local day of this time zone.")


class AppliedFiltersSerializer(serializers.Serializer):
    """The filters as understood (a preset resolved to dates, store codes normalised)."""

    date_from = serializers.DateField(help_text="First local day of the range (inclusive).")
    date_to = serializers.DateField(help_text="Last local day of the range (inclusive).")
    preset = serializers.CharField()
    channel = serializers.CharField(allow_null=True, help_text="`online`, `offline`, or null for both.")
    stores = serializers.ListField(
        child=serializers.CharField(), allow_null=True, help_text="The store codes asked for; null: every store."
    )
    region = serializers.CharField(allow_null=True)
    category = serializers.CharField(allow_null=True)
    compare = serializers.CharField()
    comparison_from = serializers.DateField(allow_null=True)
    comparison_to = serializers.DateField(allow_null=True)


class KpisSerializer(serializers.Serializer):
    net_sales = money(help_text="Gross sales − discounts − refunds.")
    gross_sales = money(help_text="Unit price × quantity of items sold, before discounts (no tax, shipping).")
    discounts = money(help_text="Line and order discounts on the items sold.")
    refunds = money(help_text="Value given back, counted on the day of the refund.")
    orders = serializers.IntegerField(help_text="Orders with at least one sold item (cancelled ones count nothing).")
    average_order_value = money(allow_null=True, help_text="Net sales / orders; null without orders.")
    units = units(help_text="Quantities sold minus quantities returned.")
    units_per_order = serializers.DecimalField(max_digits=18, decimal_places=2, allow_null=True)
    customers = serializers.IntegerField(help_text="Identified customers with an order in the range.")
    returning_customers = serializers.IntegerField(help_text="Of those, who had ordered before the range.")
    returning_share = share()
    new_customers = serializers.IntegerField()
    omnichannel_customers = serializers.IntegerField(help_text="Customers who bought online and in store.")
    omnichannel_sales = money(help_text="Net sales of the omnichannel customers in the range.")
    omnichannel_sales_share = share()
    online_sales = money()
    online_share = share(help_text="Online net sales / net sales.")


class SummaryResponseSerializer(KpisSerializer):
    merchant = MerchantContextSerializer()
    filters = AppliedFiltersSerializer()
    comparison = KpisSerializer(allow_null=True, help_text="The same figures for the comparison period.")


class SeriesPointSerializer(serializers.Serializer):
    period = serializers.DateField(help_text="First day of the bucket (day, ISO week from Monday, or month).")
    group = serializers.CharField(
        help_text="`online`/`offline`, a store code (empty: online without a store), a category name, or `all`."
    )
    value = DecimalStringField(help_text="Money with 2 decimals, units with 3, counts as whole numbers.")


class TimeseriesResponseSerializer(serializers.Serializer):
    merchant = MerchantContextSerializer()
    filters = AppliedFiltersSerializer()
    metric = serializers.ChoiceField(choices=METRICS)
    interval = serializers.CharField()
    group_by = serializers.CharField(allow_null=True)
    points = SeriesPointSerializer(many=True)


class StoreRowSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    region = serializers.CharField()
    latitude = serializers.FloatField(allow_null=True)
    longitude = serializers.FloatField(allow_null=True)
    net_sales = money()
    gross_sales = money()
    refunds = money()
    orders = serializers.IntegerField()
    units = units()
    average_order_value = money(allow_null=True)
    online_fulfilled_sales = money(help_text="Online orders fulfilled by the store (click-and-collect...).")
    comparison_net_sales = money(allow_null=True)
    change = share(help_text="(net − comparison) / comparison; null without a comparison base.")


class StoresResponseSerializer(serializers.Serializer):
    merchant = MerchantContextSerializer()
    filters = AppliedFiltersSerializer()
    results = StoreRowSerializer(many=True)


class ProductRowSerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    sku = serializers.CharField()
    name = serializers.CharField()
    category = serializers.CharField()
    units = units()
    gross_sales = money()
    discounts = money()
    refunds = money()
    net_sales = money()
    online_net_sales = money()
    offline_net_sales = money()


class ProductsResponseSerializer(serializers.Serializer):
    merchant = MerchantContextSerializer()
    filters = AppliedFiltersSerializer()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    results = ProductRowSerializer(many=True)
