"""Sales from every channel in one model: customers and their identifiers, orders, lines, imports.

Design (see ../shared/DESIGN.md, "Sales data"):
- ``Order`` is unique per (merchant, source, external_id): re-sending the same order updates it in place.
- ``OrderLine`` carries denormalised ``local_date``, ``channel`` and ``store`` so rollups read one table.
  ``kind`` is ``sale`` (quantity > 0) or ``return`` (quantity <= 0, net <= 0). A return counts on its own
  ``local_date`` (the day of the refund), which may differ from the order's. An order-level refund without item
  detail (Shopify's "Refunded Amount") is a return line without a product.
- ``local_date`` is the day in the store's timezone for offline sales, in the merchant's for online ones.
- Customers are recognised across channels by hashed identifiers (HMAC-SHA256 with the merchant's secret).
  When one order's identifiers point at two customers, they merge: the loser keeps its row with
  ``merged_into`` set, its orders and identifiers move to the survivor, and a ``CustomerMerge`` records it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from merchants.models import TenantModel


class Channel(models.TextChoices):
    ONLINE = "online", "Online"
    OFFLINE = "offline", "In store"


class OrderStatus(models.TextChoices):
    COMPLETED = "completed", "Completed"
    PENDING = "pending", "Pending"
    CANCELLED = "cancelled", "Cancelled"  # cancelled or voided: counts nothing at all


class LineKind(models.TextChoices):
    SALE = "sale", "Sale"
    RETURN = "return", "Return"


class IdentifierKind(models.TextChoices):
    EMAIL = "email", "E-mail"
    PHONE = "phone", "Phone"
    LOYALTY = "loyalty", "Loyalty number"
    POS_CUSTOMER = "pos_customer", "POS customer id"
    ACCOUNT = "account", "Online account id"


class Customer(TenantModel):
    # No single-column index on merchant: (merchant, merged_into) serves the tenant queries (every index costs
    # on each customer an import creates).
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.CASCADE, related_name="+", db_index=False)
    display_name = models.CharField(max_length=200, blank=True)
    # Raw contact details are kept only where the merchant needs to see them (and only if provided).
    email = models.CharField(max_length=254, blank=True)
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    first_order_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["merchant", "merged_into"])]

    def __str__(self) -> str:
        return self.display_name or self.email or f"Customer #{self.pk}"


class CustomerIdentifier(TenantModel):
    # No single-column index on merchant: the unique (merchant, value_hash) and (merchant, customer) serve.
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.CASCADE, related_name="+", db_index=False)
    # Indexed on its own: the database's foreign-key check when a customer row is deleted.
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="identifiers")
    kind = models.CharField(max_length=16, choices=IdentifierKind.choices)
    # hex HMAC-SHA256 of "kind:normalised value" with the merchant's secret: unique per merchant on its own.
    value_hash = models.CharField(max_length=64)
    hint = models.CharField(max_length=64, blank=True)  # masked, for people: "j***@example.com", "+33 ••• 78"
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merchant", "value_hash"], name="customer_identifier_unique"),
        ]
        indexes = [models.Index(fields=["merchant", "customer"])]

    def __str__(self) -> str:
        return f"{self.kind}:{self.hint or self.value_hash[:8]}"


class CustomerMerge(TenantModel):
    survivor = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="merges_absorbed")
    merged = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="merges_into")
    reason = models.JSONField(default=dict)  # which identifiers and which order linked them
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"#{self.merged_id} → #{self.survivor_id}"


class Order(TenantModel):
    tenant_store_field = "store"

    # No single-column indexes where a composite one starting with merchant_id already serves the tenant
    # queries (every index costs on each of the ~20,000 orders/s an import writes); stores are never deleted.
    merchant = models.ForeignKey(
        "merchants.Merchant", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    source = models.CharField(max_length=32)  # api, shopify, square, csv, jsonl, demo, ...
    external_id = models.CharField(max_length=128)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    store = models.ForeignKey(
        "stores.Store",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    customer = models.ForeignKey(
        Customer,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="orders",
        db_index=False,
        db_constraint=False,
    )
    placed_at = models.DateTimeField()
    local_date = models.DateField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=OrderStatus.choices, default=OrderStatus.COMPLETED)
    gross = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    discounts = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    refunds = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    tax = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    shipping = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    net = models.DecimalField(max_digits=14, decimal_places=2, default=0)  # gross - discounts - refunds
    content_hash = models.CharField(max_length=32)  # of the normalised input: tells "unchanged" from "updated"
    # No index: nothing reads orders by import job (deleting a job, which only a merchant's deletion does, sets
    # this to NULL through the ORM).
    import_job = models.ForeignKey(
        "ImportJob",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merchant", "source", "external_id"], name="order_unique_external_id"),
            models.CheckConstraint(
                condition=Q(channel="online") | Q(store__isnull=False), name="order_offline_has_store"
            ),
        ]
        indexes = [
            models.Index(fields=["merchant", "local_date"]),
            models.Index(fields=["merchant", "placed_at"]),
            models.Index(fields=["merchant", "customer"]),
            # Not a tenant query: the foreign-key check when customers are merged away or deleted.
            models.Index(fields=["customer"], name="order_customer_fk_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.external_id}"


class OrderLine(TenantModel):
    """The biggest table, loaded by ``COPY`` at 50,000+ lines/s: its foreign keys have no database constraint
    (each one costs a lookup and a row lock per line at commit, which halved the load rate) and no single-column
    index where a composite one serves. Integrity holds because the one write path (``sales.ingest``) resolves
    every id inside the transaction that writes the line, and deletions go through the ORM, which still applies
    ``on_delete`` (lines go with their order; products and stores with lines are protected)."""

    tenant_store_field = "store"

    merchant = models.ForeignKey(
        "merchants.Merchant", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    # Indexed on its own: reading an order's lines (admin, API) filters by order only.
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines", db_constraint=False)
    line_number = models.PositiveIntegerField()
    kind = models.CharField(max_length=8, choices=LineKind.choices, default=LineKind.SALE)
    product = models.ForeignKey(
        "catalog.Product",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    quantity = models.DecimalField(max_digits=12, decimal_places=3)
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    gross = models.DecimalField(max_digits=14, decimal_places=2)  # unit_price * quantity
    discount = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    net = models.DecimalField(max_digits=14, decimal_places=2)  # gross - discount
    # Denormalised from the order (or the refund, for returns) so rollups read one table.
    local_date = models.DateField()
    occurred_at = models.DateTimeField()
    channel = models.CharField(max_length=8, choices=Channel.choices)
    store = models.ForeignKey(
        "stores.Store",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merchant", "order", "line_number"], name="orderline_unique_number"),
            models.CheckConstraint(
                condition=(Q(kind="sale", quantity__gt=0, product__isnull=False))
                | Q(kind="return", quantity__lte=0, net__lte=0),
                name="orderline_kind_sign",
            ),
        ]
        indexes = [models.Index(fields=["merchant", "local_date"]), models.Index(fields=["merchant", "product"])]

    def __str__(self) -> str:
        return f"{self.order_id}#{self.line_number}"


class ImportFormat(models.TextChoices):
    SHOPIFY_ORDERS = "shopify-orders", "Shopify orders export (CSV)"
    SQUARE_ITEMS = "square-items", "Square items detail export (CSV)"
    GENERIC_CSV = "generic-csv", "NewRetail generic CSV"
    GENERIC_JSONL = "generic-jsonl", "NewRetail generic JSON lines"


class ImportMode(models.TextChoices):
    ALL_OR_NOTHING = "all-or-nothing", "All or nothing"
    SKIP_INVALID = "skip-invalid", "Skip invalid rows"


class ImportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    NEEDS_MAPPING = "needs_mapping", "Needs store mapping"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class ImportJob(TenantModel):
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    api_key = models.ForeignKey("merchants.ApiKey", null=True, blank=True, on_delete=models.SET_NULL)
    format = models.CharField(max_length=16, choices=ImportFormat.choices, blank=True)
    mode = models.CharField(max_length=16, choices=ImportMode.choices, default=ImportMode.ALL_OR_NOTHING)
    file = models.FileField(upload_to="imports/%Y/%m/", max_length=255)
    original_name = models.CharField(max_length=255)
    size_bytes = models.BigIntegerField(default=0)
    file_sha256 = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=ImportStatus.choices, default=ImportStatus.QUEUED)
    progress_done = models.BigIntegerField(default=0)  # bytes read
    progress_total = models.BigIntegerField(default=0)
    rows_read = models.BigIntegerField(default=0)
    orders_created = models.IntegerField(default=0)
    orders_updated = models.IntegerField(default=0)
    orders_unchanged = models.IntegerField(default=0)
    lines_written = models.BigIntegerField(default=0)
    error_count = models.IntegerField(default=0)
    error_message = models.TextField(blank=True)
    unknown_stores = models.JSONField(default=list, blank=True)  # names the file used that match no store
    store_mapping = models.JSONField(default=dict, blank=True)  # file's store name -> store code
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["merchant", "-created_at"])]

    def __str__(self) -> str:
        return f"Import #{self.pk} ({self.format or 'auto'}) {self.status}"

    @property
    def progress_percent(self) -> int:
        if not self.progress_total:
            return 100 if self.status == ImportStatus.SUCCEEDED else 0
        return min(100, int(100 * self.progress_done / self.progress_total))


class ImportRowError(TenantModel):
    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="row_errors")
    row = models.BigIntegerField()  # 1-based line number in the file (header is row 1)
    column = models.CharField(max_length=100, blank=True)
    value = models.CharField(max_length=255, blank=True)
    reason = models.CharField(max_length=500)

    class Meta:
        ordering = ["job", "row", "id"]
        indexes = [models.Index(fields=["merchant", "job", "row"])]

    def __str__(self) -> str:
        return f"row {self.row} {self.column}: {self.reason}"


class IdempotencyRecord(TenantModel):
    """First answer to an API request sent with an ``Idempotency-Key``: a replay gets it again."""

    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["merchant", "key"], name="idempotency_unique_key")]


class DirtyDay(TenantModel):
    """A merchant-day whose rollups must be recomputed (written by every ingest, consumed by analytics)."""

    local_date = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["merchant", "local_date"], name="dirtyday_unique")]
