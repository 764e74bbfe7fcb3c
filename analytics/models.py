"""Rollup tables: every dashboard, API and report number is read from these, never from raw order lines.

Raw lines (``sales.OrderLine`` + ``sales.Order``) are the source of truth; ``analytics.services`` rewrites the
rows of the merchant-days an ingest touched (``sales.DirtyDay``) and can rebuild everything from scratch. The
grains (see README, "Dashboard and analytics") are chosen so that each chart reads few rows:

- ``StoreDay``            merchant × day × store × channel             — KPI cards, time series, store leaderboard
- ``CategoryStoreDay``    … × category                                  — the category filter and category charts
- ``ProductDay``          merchant × day × product × channel (no store)  — top products, product pages
- ``ProductMonth``        merchant × month × product × channel           — the full months of long ranges
- ``ProductStoreDay``     merchant × day × product × store × channel     — product figures under a store restriction
- ``HourStoreDay``        merchant × day × store × channel × local hour  — the hour × weekday heatmap
- ``HourCategoryStoreDay`` … × category                                  — the same under the category filter
- ``CustomerDay``         merchant × day × customer × channel × store    — distinct customers, omnichannel, behaviour
- ``CustomerCategoryDay`` … × category                                   — the same under the category filter
- ``CustomerFirstOrder``  merchant × customer → first order day          — new vs returning
- ``ChannelDay``, ``StoreMonth``, ``CategoryDay``/``CategoryMonth``, ``HourDay``/``HourMonth``: sums of the
  store-level tables above without the store (or by month), read when no store is filtered on

Money rows hold the definitions of DESIGN.md ("What the numbers mean"): ``gross`` and ``discounts`` of sold
items, ``refunds`` (value given back, on the refund's day), ``net = gross − discounts − refunds``, ``units``
(sold minus returned), ``orders`` (distinct non-cancelled orders with a sold item in the group). Order-level
discounts (not attributable to a product) are in the tables without a product; they sit in the ``category``
tables under no category (``category_id`` NULL) with productless refunds.

No foreign-key constraints: rows are derived data, rewritten in bulk; ids point at ``stores.Store``,
``catalog.Product``/``Category`` and ``sales.Customer``. Every index and unique constraint starts with
``merchant_id``.
"""

from __future__ import annotations

from django.db import models

from merchants.models import TenantModel

MONEY = {"max_digits": 16, "decimal_places": 2, "default": 0}
UNITS = {"max_digits": 16, "decimal_places": 3, "default": 0}


# No database constraint on ``merchant`` either: a deferred foreign-key check per inserted row made the commit of
# a 10M-line rebuild take minutes. Deleting a merchant still deletes its rows (the ORM applies ``on_delete``).
ROLLUP_MERCHANT = {"on_delete": models.CASCADE, "related_name": "+", "db_index": False, "db_constraint": False}


class RollupModel(TenantModel):
    merchant = models.ForeignKey("merchants.Merchant", **ROLLUP_MERCHANT)
    channel = models.CharField(max_length=8)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        when = getattr(self, "local_date", None) or getattr(self, "month", None)
        return f"{type(self).__name__} {when} {self.channel}"


class SalesMetrics(models.Model):
    gross = models.DecimalField(**MONEY)
    discounts = models.DecimalField(**MONEY)
    refunds = models.DecimalField(**MONEY)
    net = models.DecimalField(**MONEY)
    units = models.DecimalField(**UNITS)
    orders = models.IntegerField(default=0)

    class Meta:
        abstract = True


class StoreDay(RollupModel, SalesMetrics):  # noqa: DJ008 (RollupModel.__str__)
    tenant_store_field = "store"

    local_date = models.DateField()
    store_id = models.BigIntegerField(null=True)  # None: online without a fulfilling store

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "local_date", "store_id", "channel"],
                name="storeday_unique",
                nulls_distinct=False,
            )
        ]
        indexes = [models.Index(fields=["merchant", "store_id", "local_date"], name="storeday_store_idx")]


class CategoryStoreDay(RollupModel, SalesMetrics):  # noqa: DJ008 (RollupModel.__str__)
    """``orders``: orders with a sold item of the category (not additive across categories)."""

    tenant_store_field = "store"

    local_date = models.DateField()
    store_id = models.BigIntegerField(null=True)
    category_id = models.BigIntegerField(null=True)  # None: uncategorised products, order-level discounts/refunds

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "local_date", "store_id", "channel", "category_id"],
                name="categorystoreday_unique",
                nulls_distinct=False,
            )
        ]
        # Covering (index-only scans): the store and the category filters read only the index.
        indexes = [
            models.Index(
                fields=["merchant", "category_id", "local_date"],
                include=["store_id", "channel", "gross", "discounts", "refunds", "net", "units", "orders"],
                name="categorystoreday_cat_cov",
            ),
            models.Index(
                fields=["merchant", "store_id", "local_date"],
                include=["channel", "category_id", "gross", "discounts", "refunds", "net", "units", "orders"],
                name="categorystoreday_store_cov",
            ),
        ]


class ProductMetrics(models.Model):
    """Line-level figures of one product (``orders`` is the number of orders with a sold item of it)."""

    gross = models.DecimalField(**MONEY)
    discounts = models.DecimalField(**MONEY)
    refunds = models.DecimalField(**MONEY)
    net = models.DecimalField(**MONEY)
    units = models.DecimalField(**UNITS)
    orders = models.IntegerField(default=0)

    class Meta:
        abstract = True


class ProductDay(RollupModel, ProductMetrics):  # noqa: DJ008 (RollupModel.__str__)
    local_date = models.DateField()
    product_id = models.BigIntegerField()
    category_id = models.BigIntegerField(null=True)  # the product's category when the row was computed

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "local_date", "product_id", "channel"], name="productday_unique"
            )
        ]
        indexes = [
            models.Index(fields=["merchant", "product_id", "local_date"], name="productday_product_idx"),
            models.Index(fields=["merchant", "category_id", "local_date"], name="productday_category_idx"),
        ]


class ProductMonth(RollupModel, ProductMetrics):  # noqa: DJ008 (RollupModel.__str__)
    month = models.DateField()  # first day of the month
    product_id = models.BigIntegerField()
    category_id = models.BigIntegerField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merchant", "month", "product_id", "channel"], name="productmonth_unique")
        ]
        indexes = [models.Index(fields=["merchant", "category_id", "month"], name="productmonth_category_idx")]


class ProductStoreDay(RollupModel, ProductMetrics):  # noqa: DJ008 (RollupModel.__str__)
    tenant_store_field = "store"

    local_date = models.DateField()
    product_id = models.BigIntegerField()
    store_id = models.BigIntegerField(null=True)
    category_id = models.BigIntegerField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "local_date", "product_id", "store_id", "channel"],
                name="productstoreday_unique",
                nulls_distinct=False,
            )
        ]
        indexes = [
            models.Index(
                fields=["merchant", "store_id", "local_date"],
                include=["product_id", "channel", "category_id", "units", "gross", "discounts", "refunds", "net"],
                name="productstoreday_store_cov",
            ),
            models.Index(fields=["merchant", "product_id", "local_date"], name="productstoreday_product_idx"),
        ]


class HourStoreDay(RollupModel):
    """Sales by local hour (the store's time zone; the merchant's for online sales without a store)."""

    tenant_store_field = "store"

    local_date = models.DateField()
    store_id = models.BigIntegerField(null=True)
    weekday = models.SmallIntegerField()  # 0 = Monday, of the same local moment as ``hour``
    hour = models.SmallIntegerField()
    net = models.DecimalField(**MONEY)
    orders = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "local_date", "store_id", "channel", "weekday", "hour"],
                name="hourstoreday_unique",
                nulls_distinct=False,
            )
        ]
        indexes = [
            models.Index(
                fields=["merchant", "store_id", "local_date"],
                include=["channel", "weekday", "hour", "net", "orders"],
                name="hourstoreday_store_cov",
            )
        ]


class HourCategoryStoreDay(RollupModel):
    tenant_store_field = "store"

    local_date = models.DateField()
    store_id = models.BigIntegerField(null=True)
    weekday = models.SmallIntegerField()
    hour = models.SmallIntegerField()
    category_id = models.BigIntegerField(null=True)
    net = models.DecimalField(**MONEY)
    orders = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "local_date", "store_id", "channel", "weekday", "hour", "category_id"],
                name="hourcategorystoreday_unique",
                nulls_distinct=False,
            )
        ]
        indexes = [
            models.Index(
                fields=["merchant", "category_id", "local_date"],
                include=["store_id", "channel", "weekday", "hour", "net", "orders"],
                name="hourcategoryday_cat_cov",
            )
        ]


class CustomerDay(RollupModel):
    """One identified customer's day in one channel and store: distinct counts are taken over these rows.
    ``orders`` > 0 means the customer bought that day; a row with ``orders`` = 0 only holds a refund."""

    tenant_store_field = "store"

    local_date = models.DateField()
    customer_id = models.BigIntegerField()
    store_id = models.BigIntegerField(null=True)
    net = models.DecimalField(**MONEY)
    orders = models.IntegerField(default=0)
    # The customer's ``CustomerFirstOrder.first_date`` (any channel, store or category; None without an order),
    # kept equal on every row of the customer: "returning" is then min(first_date) < the range, without a join.
    first_date = models.DateField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "local_date", "customer_id", "channel", "store_id"],
                name="customerday_unique",
                nulls_distinct=False,
            )
        ]
        indexes = [
            models.Index(fields=["merchant", "customer_id"], name="customerday_customer_idx"),
            models.Index(
                fields=["merchant", "store_id", "local_date"],
                include=["customer_id", "channel", "net", "orders", "first_date"],
                name="customerday_store_cov2",
            ),
        ]


class CustomerCategoryDay(RollupModel):
    tenant_store_field = "store"

    local_date = models.DateField()
    customer_id = models.BigIntegerField()
    store_id = models.BigIntegerField(null=True)
    category_id = models.BigIntegerField(null=True)
    net = models.DecimalField(**MONEY)
    orders = models.IntegerField(default=0)
    first_date = models.DateField(null=True)  # as on ``CustomerDay``: the first order of any category

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "local_date", "customer_id", "channel", "store_id", "category_id"],
                name="customercategoryday_unique",
                nulls_distinct=False,
            )
        ]
        indexes = [
            models.Index(
                fields=["merchant", "category_id", "local_date"],
                include=["customer_id", "channel", "store_id", "net", "orders", "first_date"],
                name="customercategoryday_cat_cov2",
            ),
            models.Index(fields=["merchant", "customer_id"], name="customercategoryday_cust_idx"),
        ]


class CustomerFirstOrder(TenantModel):
    """The local day of each identified customer's first non-cancelled order with a sold item (any channel or
    store): a customer of a range is *returning* when this day is before the range."""

    merchant = models.ForeignKey("merchants.Merchant", **ROLLUP_MERCHANT)
    customer_id = models.BigIntegerField()
    first_date = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merchant", "customer_id"], name="customerfirstorder_unique"),
        ]
        indexes = [models.Index(fields=["merchant", "first_date"], name="customerfirstorder_date_idx")]


class RollupState(TenantModel):
    """Per-merchant bookkeeping of the refresh: when it last ran, up to when customer merges were looked at."""

    merchant = models.OneToOneField("merchants.Merchant", on_delete=models.CASCADE, related_name="+")
    refreshed_at = models.DateTimeField(null=True, blank=True)
    rebuilt_at = models.DateTimeField(null=True, blank=True)
    merges_checked_at = models.DateTimeField(null=True, blank=True)
    days_refreshed = models.BigIntegerField(default=0)  # total, for operators

    def __str__(self) -> str:
        return f"rollups of merchant #{self.merchant_id}"


# --- derived grains without the store (fix 3 of docs/analytics-performance-plan.md) ---------------------------
# Sums of the store-level rows above (``analytics.services.DERIVED``), rewritten with them on every refresh:
# selectors read them when no store is filtered on (and the month tables for a range's whole months).


class ChannelDay(RollupModel, SalesMetrics):  # noqa: DJ008 (RollupModel.__str__)
    """``StoreDay`` summed over stores: KPI cards and time series without a store filter."""

    local_date = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merchant", "local_date", "channel"], name="channelday_unique"),
        ]


class StoreMonth(RollupModel, SalesMetrics):  # noqa: DJ008 (RollupModel.__str__)
    """``StoreDay`` by month: the whole months of the store leaderboard."""

    tenant_store_field = "store"

    month = models.DateField()  # first day of the month
    store_id = models.BigIntegerField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "month", "store_id", "channel"], name="storemonth_unique", nulls_distinct=False
            )
        ]


class CategoryDay(RollupModel, SalesMetrics):  # noqa: DJ008 (RollupModel.__str__)
    """``CategoryStoreDay`` summed over stores."""

    local_date = models.DateField()
    category_id = models.BigIntegerField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "local_date", "channel", "category_id"],
                name="categoryday_unique",
                nulls_distinct=False,
            )
        ]


class CategoryMonth(RollupModel, SalesMetrics):  # noqa: DJ008 (RollupModel.__str__)
    """``CategoryDay`` by month."""

    month = models.DateField()
    category_id = models.BigIntegerField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "month", "channel", "category_id"],
                name="categorymonth_unique",
                nulls_distinct=False,
            )
        ]


class HourDay(RollupModel):
    """``HourStoreDay`` summed over the stores (rows with a store only: the heatmap shows in-store hours)."""

    local_date = models.DateField()
    weekday = models.SmallIntegerField()
    hour = models.SmallIntegerField()
    net = models.DecimalField(**MONEY)
    orders = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "local_date", "channel", "weekday", "hour"], name="hourday_unique"
            )
        ]


class HourMonth(RollupModel):
    """``HourDay`` by month."""

    month = models.DateField()
    weekday = models.SmallIntegerField()
    hour = models.SmallIntegerField()
    net = models.DecimalField(**MONEY)
    orders = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merchant", "month", "channel", "weekday", "hour"], name="hourmonth_unique")
        ]


ROLLUP_MODELS = (
    StoreDay,
    CategoryStoreDay,
    ProductDay,
    ProductStoreDay,
    HourStoreDay,
    HourCategoryStoreDay,
    CustomerDay,
    CustomerCategoryDay,
    ChannelDay,
    StoreMonth,
    CategoryDay,
    CategoryMonth,
    HourDay,
    HourMonth,
)


class PrecomputedAnswer(TenantModel):
    """A selector answer computed ahead of the first request (``analytics.precompute``: the standard presets,
    merchant-wide, after each refresh). ``name`` and ``digest`` are those of ``analytics.cache.cached``; the
    merchant's rows are deleted in the same transaction as any rollup write (``rollups_version_bump``), so a row
    that exists was computed from the rollups as they are. ``value`` is a pickle written only by the project."""

    merchant = models.ForeignKey("merchants.Merchant", **ROLLUP_MERCHANT)
    name = models.CharField(max_length=40)
    digest = models.CharField(max_length=64)
    value = models.BinaryField()
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merchant", "name", "digest"], name="precomputedanswer_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.digest[:8]} of merchant #{self.merchant_id}"
