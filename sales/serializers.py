"""Serializers of the orders API.

- Reads (``GET /api/v1/orders/`` and one order): :class:`OrderOutputSerializer`.
- The batch (``POST /api/v1/orders/batch/``): the body is validated by the pydantic models of
  ``sales.schemas`` (fast enough for 1,000 orders per request). The serializers below describe the same body
  for the OpenAPI schema and validate it the same way; ``tests/api/test_orders_schema.py`` sends the same bodies
  through both and checks they accept and refuse the same fields. The answer is built as plain dicts by the
  view and described by :class:`OrderBatchResultSerializer`.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.core.validators import MaxLengthValidator, MinLengthValidator, RegexValidator
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from drf_standardized_errors.openapi_serializers import ClientErrorEnum
from rest_framework import serializers

from catalog.validation import SKU_MAX_LENGTH
from sales import schemas
from sales.models import Channel, LineKind, Order, OrderLine, OrderStatus
from stores.validation import STORE_CODE_MAX_LENGTH

MONEY_HELP = 'In the merchant\'s currency: a decimal string like "19.90" (or a number), at most 2 decimals, 0 or more.'
PRINTABLE = RegexValidator(schemas.PRINTABLE_PATTERN, "No line breaks, tabs or other control characters.")

# Every code an order of a batch can be refused with (``results[].errors[].code``).
BATCH_ERROR_CODES = {
    "required": "A required field is missing.",
    "null": "A field that may not be null is null.",
    "blank": "A text field that may not be blank is blank.",
    "invalid": "Wrong type or format (not a number, not an ISO 8601 date-time, control characters, …).",
    "max_length": "Text too long, or too many lines.",
    "min_length": "An order without lines.",
    "not_a_list": "`lines` is not a list.",
    "max_digits": "A number with too many digits.",
    "max_decimal_places": "Too many decimals (2 for money, 3 for quantities).",
    "max_whole_digits": "A number too large.",
    "min_value": "A negative amount, or a sale with a quantity of 0 or less.",
    "max_value": "A return with a positive quantity, or a line discount larger than the line.",
    "invalid_choice": "Not one of the allowed values (channel, status, kind).",
    "naive_datetime": "A date-time without its UTC offset.",
    "currency_mismatch": "The order's currency is not the merchant's.",
    "duplicate": "The same source and external id appeared earlier in this batch.",
    "unknown_store": "No store of the merchant has this code.",
}


# --- reads --------------------------------------------------------------------------------------


@extend_schema_field(OpenApiTypes.DATETIME)
class LocalPlacedAtField(serializers.Field):
    """``placed_at`` in the order's local time: its store's time zone offline, the merchant's online."""

    def __init__(self, **kwargs):
        kwargs["read_only"] = True
        kwargs.setdefault("source", "*")
        super().__init__(**kwargs)

    def to_representation(self, order: Order) -> str:
        if order.channel == Channel.OFFLINE and order.store is not None:
            name = order.store.timezone
        else:
            name = self.context["merchant_timezone"]
        return order.placed_at.astimezone(ZoneInfo(name)).isoformat()


class OrderLineOutputSerializer(serializers.ModelSerializer):
    sku = serializers.CharField(
        source="product.sku", allow_null=True, help_text="The product's SKU; null for a refund without item detail."
    )
    quantity = serializers.DecimalField(
        max_digits=12, decimal_places=3, help_text="Positive for a sale, 0 or negative for a return."
    )
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2)
    gross = serializers.DecimalField(max_digits=14, decimal_places=2, help_text="unit_price × quantity.")
    discount = serializers.DecimalField(max_digits=14, decimal_places=2)
    net = serializers.DecimalField(
        max_digits=14, decimal_places=2, help_text="gross − discount; for a return, minus the value given back."
    )
    local_date = serializers.DateField(
        help_text="The local day the line counts on: the order's, or for a return the day of the refund."
    )

    class Meta:
        model = OrderLine
        fields = ["line_number", "kind", "sku", "quantity", "unit_price", "gross", "discount", "net", "local_date"]
        read_only_fields = fields


class OrderOutputSerializer(serializers.ModelSerializer):
    store = serializers.CharField(
        source="store.code",
        allow_null=True,
        help_text="The store's code: where an offline sale happened, or the fulfilling store of an online order "
        "(click-and-collect, ship-from-store); null for an online order without one.",
    )
    placed_at = LocalPlacedAtField(
        help_text="ISO 8601 with the UTC offset of the order's local time: the store's time zone for offline "
        "orders, the merchant's for online ones."
    )
    local_date = serializers.DateField(help_text="The local day of `placed_at` (the day the order counts on).")
    gross = serializers.DecimalField(max_digits=14, decimal_places=2, help_text="Σ sale-line gross.")
    discounts = serializers.DecimalField(
        max_digits=14, decimal_places=2, help_text="Σ line discounts + the order discount."
    )
    refunds = serializers.DecimalField(
        max_digits=14, decimal_places=2, help_text="Σ value given back on return lines (a positive number)."
    )
    tax = serializers.DecimalField(max_digits=14, decimal_places=2)
    shipping = serializers.DecimalField(max_digits=14, decimal_places=2)
    net = serializers.DecimalField(max_digits=14, decimal_places=2, help_text="gross − discounts − refunds.")
    customer = serializers.CharField(
        source="customer_id",
        allow_null=True,
        help_text="An opaque id of the customer, the same on every order recognised as the same person (across "
        "channels); null for an anonymous order. It may change when two customers are merged.",
    )
    lines = OrderLineOutputSerializer(many=True)

    class Meta:
        model = Order
        fields = [
            "source",
            "external_id",
            "channel",
            "store",
            "placed_at",
            "local_date",
            "status",
            "currency",
            "gross",
            "discounts",
            "refunds",
            "tax",
            "shipping",
            "net",
            "customer",
            "lines",
        ]
        read_only_fields = fields


# --- the batch: request (documents and mirrors sales.schemas) ----------------------------------


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 date-time that must carry its UTC offset (a naive one is refused, never guessed)."""

    default_error_messages = {
        "naive_datetime": "Give the date-time with its UTC offset, e.g. 2024-05-01T10:30:00+02:00 or "
        "2024-05-01T08:30:00Z.",
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("input_formats", ["iso-8601"])
        super().__init__(**kwargs)

    def enforce_timezone(self, value):
        if value.utcoffset() is None:
            self.fail("naive_datetime")
        return value


class DecimalInputField(serializers.DecimalField):
    """A decimal in a request: a string (``"19.90"``, best: exact) or a JSON number (read through its shortest
    text, so ``19.9`` is 19.90, never 19.899999…)."""


class DecimalInputFieldExtension(OpenApiSerializerFieldExtension):
    target_class = DecimalInputField

    def map_serializer_field(self, auto_schema, direction):
        as_text = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        as_text = {key: value for key, value in as_text.items() if key in {"type", "format", "pattern"}}
        return {"oneOf": [as_text, {"type": "number"}]}


def _money(**kwargs) -> DecimalInputField:
    kwargs.setdefault("help_text", MONEY_HELP)
    return DecimalInputField(max_digits=12, decimal_places=2, min_value=0, **kwargs)


def _optional_text(max_length: int, pattern: RegexValidator | None = PRINTABLE, **kwargs) -> serializers.CharField:
    """Text that may be missing, null or blank (all three mean "not given")."""
    return serializers.CharField(
        max_length=max_length,
        required=False,
        allow_null=True,
        allow_blank=True,
        default=None,
        validators=[pattern] if pattern else [],
        **kwargs,
    )


class BoundedListSerializer(serializers.ListSerializer):
    """A list serializer whose ``min_length``/``max_length`` show in the schema as ``minItems``/``maxItems``.

    DRF checks the lengths itself (with its own codes and the ``non_field_errors`` attr); the validators added
    here only describe them to drf-spectacular and never fire (DRF refuses the list before running them).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        bounds = []
        if self.min_length is not None:
            bounds.append(MinLengthValidator(self.min_length))
        if self.max_length is not None:
            bounds.append(MaxLengthValidator(self.max_length))
        self.validators = [*self.validators, *bounds]


class OrderBatchLineSerializer(serializers.Serializer):
    sku = serializers.CharField(
        max_length=SKU_MAX_LENGTH,
        validators=[PRINTABLE],
        help_text="The product's SKU (case-sensitive). An SKU the catalog doesn't know creates a placeholder "
        "product flagged for review, named after `name`.",
    )
    name = serializers.CharField(
        max_length=schemas.NAME_MAX_LENGTH,
        required=False,
        allow_blank=True,
        default="",
        help_text="The product's name, used when the SKU is new. Stored as text, as given.",
    )
    quantity = DecimalInputField(
        max_digits=12,
        decimal_places=3,
        help_text="Decimal string or number, up to 3 decimals. More than 0 for a sale; for a return, the quantity "
        "given back as a negative number (or 0).",
    )
    unit_price = _money(help_text=f"Price of one unit before discounts. {MONEY_HELP}")
    discount = _money(required=False, default="0", help_text=f"Discount on this line. {MONEY_HELP}")
    kind = serializers.ChoiceField(choices=LineKind.choices, default=LineKind.SALE)
    returned_at = AwareDateTimeField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Returns only: when the refund happened (ISO 8601 with offset); it counts on that local day. "
        "Defaults to the order's `placed_at`.",
    )

    class Meta:
        list_serializer_class = BoundedListSerializer


class OrderBatchRefundSerializer(serializers.Serializer):
    """Money given back without item detail (a goodwill or price-adjustment refund): a return line without an SKU
    whose value is ``amount``. A return of products is a line of kind ``return`` instead."""

    amount = _money(help_text=f"The merchandise value given back (tax and shipping excluded). {MONEY_HELP}")
    refunded_at = AwareDateTimeField(
        required=False,
        allow_null=True,
        default=None,
        help_text="When the refund happened (ISO 8601 with offset); it counts on that local day. Defaults to the "
        "order's `placed_at`.",
    )

    class Meta:
        list_serializer_class = BoundedListSerializer


class OrderBatchCustomerSerializer(serializers.Serializer):
    """Who bought: any of these identify the customer across channels (stored hashed, never in clear, except
    the e-mail and name when given)."""

    email = _optional_text(
        schemas.EMAIL_MAX_LENGTH,
        pattern=RegexValidator(schemas.EMAIL_PATTERN, "Give an e-mail address like name@example.com."),
        help_text="E-mail address (case and surrounding spaces ignored).",
    )
    phone = _optional_text(
        schemas.PHONE_MAX_LENGTH,
        help_text="Phone number, ideally E.164 (+33612345678); national numbers are read with the store's or "
        "merchant's country. An unreadable number is ignored.",
    )
    loyalty_number = _optional_text(schemas.CUSTOMER_ID_MAX_LENGTH, help_text="Loyalty card number.")
    pos_customer_id = _optional_text(schemas.CUSTOMER_ID_MAX_LENGTH, help_text="The POS system's customer id.")
    account_id = _optional_text(schemas.CUSTOMER_ID_MAX_LENGTH, help_text="The online shop's account id.")
    name = _optional_text(schemas.CUSTOMER_NAME_MAX_LENGTH, pattern=None, help_text="Display name.")


class OrderBatchOrderSerializer(serializers.Serializer):
    source = serializers.RegexField(
        schemas.SOURCE_PATTERN_ANY_CASE,
        max_length=schemas.SOURCE_MAX_LENGTH,
        required=False,
        default=schemas.DEFAULT_SOURCE,
        help_text="Where the order comes from; (source, external_id) identifies it. Lower-case letters, digits, "
        "`.`, `_`, `-`; stored lower-case. File imports use `shopify`, `square` and `csv`.",
    )
    external_id = serializers.CharField(
        max_length=schemas.EXTERNAL_ID_MAX_LENGTH,
        validators=[PRINTABLE],
        help_text="The order's id in the source system (a number is read as text). Sending the same "
        "(source, external_id) again updates the order, never duplicates it.",
    )
    channel = serializers.ChoiceField(choices=Channel.choices)
    store = serializers.CharField(
        max_length=STORE_CODE_MAX_LENGTH,
        required=False,
        allow_null=True,
        allow_blank=True,
        default=None,
        help_text="The store's code (case-insensitive). Required offline; online, the fulfilling store if any.",
    )
    placed_at = AwareDateTimeField(
        help_text="When the order was placed: ISO 8601 with its UTC offset (2024-05-01T10:30:00+02:00 or "
        "…Z). A date-time without offset is refused.",
    )
    currency = serializers.RegexField(
        r"^[A-Za-z]{3}$", help_text="ISO 4217 code; must be the merchant's currency (case is folded)."
    )
    status = serializers.ChoiceField(choices=OrderStatus.choices, default=OrderStatus.COMPLETED)
    lines = OrderBatchLineSerializer(
        many=True,
        min_length=1,
        max_length=schemas.ORDER_MAX_LINES,
        help_text=f"1 to {schemas.ORDER_MAX_LINES:,} lines: sales and returns.",
    )
    refunds = OrderBatchRefundSerializer(
        many=True,
        required=False,
        default=list,
        max_length=schemas.ORDER_MAX_REFUNDS,
        help_text=f"Up to {schemas.ORDER_MAX_REFUNDS} refunds without item detail (returns of products are lines).",
    )
    order_discount = _money(
        required=False, default="0", help_text=f"Discount on the whole order, not already on the lines. {MONEY_HELP}"
    )
    tax = _money(required=False, default="0")
    shipping = _money(required=False, default="0")
    customer = OrderBatchCustomerSerializer(required=False, allow_null=True, default=None)

    class Meta:
        list_serializer_class = BoundedListSerializer


class OrderBatchSerializer(serializers.Serializer):
    orders = OrderBatchOrderSerializer(
        many=True,
        min_length=1,
        max_length=schemas.BATCH_MAX_ORDERS,
        help_text=f"1 to {schemas.BATCH_MAX_ORDERS:,} orders, each answered on its own.",
    )


# --- the batch: answer --------------------------------------------------------------------------


class OrderBatchItemErrorSerializer(serializers.Serializer):
    attr = serializers.CharField(
        help_text="JSON path to the bad field, like drf-standardized-errors' `attr`: `orders.3.lines.1.quantity`; "
        "`orders.3.non_field_errors` when the order itself is not an object."
    )
    code = serializers.ChoiceField(
        choices=[(code, f"{code}: {meaning}") for code, meaning in BATCH_ERROR_CODES.items()],
        help_text="Machine-readable reason.",
    )
    detail = serializers.CharField(help_text="Human-readable reason.")


class OrderBatchItemResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the order in the request's `orders`.")
    external_id = serializers.CharField(allow_null=True, help_text="The order's external id as stored (if readable).")
    result = serializers.ChoiceField(
        choices=[
            ("created", "created: a new order"),
            ("updated", "updated: an existing order that changed"),
            ("unchanged", "unchanged: an existing order identical to what was sent"),
            ("error", "error: nothing written for this order; see errors"),
        ]
    )
    errors = OrderBatchItemErrorSerializer(many=True, help_text="Empty unless `result` is `error`.")


class OrderBatchSummarySerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    error = serializers.IntegerField()


class OrderBatchResultSerializer(serializers.Serializer):
    results = OrderBatchItemResultSerializer(many=True, help_text="One per order sent, in the same order.")
    summary = OrderBatchSummarySerializer(help_text="How many orders got each result.")


class IdempotencyReusedErrorSerializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=[("idempotency_key_reused", "idempotency_key_reused")])
    detail = serializers.CharField()
    attr = serializers.CharField(allow_null=True)


class IdempotencyReusedResponseSerializer(serializers.Serializer):
    """422: the ``Idempotency-Key`` was already used with another body or endpoint."""

    type = serializers.ChoiceField(choices=ClientErrorEnum.choices)
    errors = IdempotencyReusedErrorSerializer(many=True)


class IdempotencyInProgressErrorSerializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=[("idempotency_key_in_progress", "idempotency_key_in_progress")])
    detail = serializers.CharField()
    attr = serializers.CharField(allow_null=True)


class IdempotencyInProgressResponseSerializer(serializers.Serializer):
    """409: a request with the same ``Idempotency-Key`` is still running."""

    type = serializers.ChoiceField(choices=ClientErrorEnum.choices)
    errors = IdempotencyInProgressErrorSerializer(many=True)
