"""The body of ``POST /api/v1/orders/batch/``, validated with pydantic v2 instead of DRF serializers.

Why pydantic: a batch holds up to 1,000 orders with their lines, and DRF serializers cost ~100 µs per nested
object, which alone would eat the API's throughput budget. pydantic-core validates the same shape in Rust at a
fraction of that (measured by ``benchmarks/orders_api.py``). The OpenAPI schema still comes from DRF serializers
(``sales.serializers.OrderBatchSerializer``) so it looks like the rest of the API; a test validates the
same bodies through both and checks they agree field by field (``tests/api/test_orders_schema.py``).

Each order is validated on its own, so one bad order doesn't fail the batch: :func:`batch_validate` returns, per
order, either an :class:`~sales.ingest.types.OrderInput` or a list of :class:`BatchError` whose ``attr`` is the
JSON path to the bad field in drf-standardized-errors' style (``orders.3.lines.1.quantity``).

Rules checked here are the ones that need nothing from the database (types, lengths, signs, offsets, the
merchant's currency, duplicates inside the batch); the ingestion service checks the rest (stores) and reports
with the same paths.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from catalog.validation import SKU_MAX_LENGTH
from sales.ingest.types import IdentifierInput, LineInput, OrderInput
from sales.models import Channel, IdentifierKind, LineKind, OrderStatus
from stores.validation import STORE_CODE_MAX_LENGTH

BATCH_MAX_ORDERS = 1000
ORDER_MAX_LINES = 1000
ORDER_MAX_REFUNDS = 100
DEFAULT_SOURCE = "api"
ZERO = Decimal("0")

SOURCE_MAX_LENGTH = 32
SOURCE_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"  # checked after folding to lower case (length apart)
SOURCE_PATTERN_ANY_CASE = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"  # what a client may send (the schema's)
PRINTABLE_PATTERN = r"^[^\x00-\x1f\x7f]+$"  # no line breaks, tabs or other control characters
CURRENCY_PATTERN = r"^[A-Z]{3}$"
EMAIL_PATTERN = r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+$"
EXTERNAL_ID_MAX_LENGTH = 128
NAME_MAX_LENGTH = 255
CUSTOMER_NAME_MAX_LENGTH = 200
EMAIL_MAX_LENGTH = 254
PHONE_MAX_LENGTH = 32
CUSTOMER_ID_MAX_LENGTH = 128


def _text_only(value: Any) -> Any:
    # Lax pydantic also takes Unix timestamps for datetimes; the API promises ISO 8601 strings only.
    if value is not None and not isinstance(value, str):
        raise PydanticCustomError("invalid", "Give an ISO 8601 date-time string with a UTC offset.")
    return value


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


# Case is folded by a before-validator: StringConstraints would check the pattern before folding.
Source = Annotated[
    str, StringConstraints(min_length=1, max_length=SOURCE_MAX_LENGTH, pattern=SOURCE_PATTERN), BeforeValidator(_lower)
]
ExternalId = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=EXTERNAL_ID_MAX_LENGTH, pattern=PRINTABLE_PATTERN
    ),
]
Sku = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=SKU_MAX_LENGTH, pattern=PRINTABLE_PATTERN)
]
StoreCode = Annotated[
    Annotated[str, StringConstraints(strip_whitespace=True, max_length=STORE_CODE_MAX_LENGTH)] | None,
    BeforeValidator(_blank_to_none),
]
Currency = Annotated[str, StringConstraints(pattern=CURRENCY_PATTERN), BeforeValidator(_upper)]
Timestamp = Annotated[datetime, BeforeValidator(_text_only)]


def _fast_decimal(pattern: str, **constraints) -> Any:
    """A decimal checked by a regular expression in pydantic-core first, by pydantic's Decimal otherwise.

    pydantic's Decimal validation goes back and forth with Python's ``decimal`` module for every value (~3 µs);
    a batch has ~13,000 amounts. The usual shapes ("19.90", 2, 19.9) match ``pattern`` in Rust and come out as
    ``str`` (turned into ``Decimal`` by :func:`_decimals`); anything else (".5", "1e2", "abc", -1) falls to the
    exact Decimal rules, so what is accepted and the errors given are the same as with the Decimal alone.
    """
    return Annotated[
        Annotated[str, StringConstraints(pattern=pattern)] | Annotated[Decimal, Field(**constraints)],
        Field(union_mode="left_to_right"),
    ]


FAST_BRANCH, EXACT_BRANCH = "constrained-str", "decimal"  # the union's branch names in pydantic's error locs
Money = _fast_decimal(r"^\d{1,10}(?:\.\d{1,2})?$", max_digits=12, decimal_places=2, ge=0)
Quantity = _fast_decimal(r"^-?\d{1,9}(?:\.\d{1,3})?$", max_digits=12, decimal_places=3)


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.utcoffset() is None:
        raise PydanticCustomError(
            "naive_datetime",
            "Give the date-time with its UTC offset, e.g. 2024-05-01T10:30:00+02:00 or 2024-05-01T08:30:00Z.",
        )
    return value


AwareTimestamp = Annotated[Timestamp, AfterValidator(_aware)]


def _optional_text(max_length: int, pattern: str | None = PRINTABLE_PATTERN):
    """A string that may be missing, null or blank (all three mean "not given")."""
    text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=max_length, pattern=pattern)]
    return Annotated[text | None, BeforeValidator(_blank_to_none)]


class _Model(BaseModel):
    # Unknown fields are ignored, like everywhere else in the API (DRF serializers ignore them).
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True, str_strip_whitespace=True)


class LineIn(_Model):
    sku: Sku
    name: Annotated[str, StringConstraints(max_length=NAME_MAX_LENGTH)] = ""
    quantity: Quantity
    unit_price: Money
    discount: Money = ZERO
    kind: Literal["sale", "return"] = LineKind.SALE.value
    returned_at: AwareTimestamp | None = None


class RefundIn(_Model):
    amount: Money
    refunded_at: AwareTimestamp | None = None


class CustomerIn(_Model):
    email: _optional_text(EMAIL_MAX_LENGTH, pattern=EMAIL_PATTERN) = None
    phone: _optional_text(PHONE_MAX_LENGTH) = None
    loyalty_number: _optional_text(CUSTOMER_ID_MAX_LENGTH) = None
    pos_customer_id: _optional_text(CUSTOMER_ID_MAX_LENGTH) = None
    account_id: _optional_text(CUSTOMER_ID_MAX_LENGTH) = None
    name: _optional_text(CUSTOMER_NAME_MAX_LENGTH, pattern=None) = None


class OrderIn(_Model):
    source: Source = DEFAULT_SOURCE
    external_id: ExternalId
    channel: Literal["online", "offline"]
    store: StoreCode = None
    placed_at: AwareTimestamp
    currency: Currency
    status: Literal["completed", "pending", "cancelled"] = OrderStatus.COMPLETED.value
    lines: Annotated[list[LineIn], Field(min_length=1, max_length=ORDER_MAX_LINES)]
    # (a factory: a mutable default ``[]`` would be deep-copied for every order that leaves it out)
    refunds: Annotated[list[RefundIn], Field(max_length=ORDER_MAX_REFUNDS, default_factory=list)]
    order_discount: Money = ZERO
    tax: Money = ZERO
    shipping: Money = ZERO
    customer: CustomerIn | None = None


ORDER_ADAPTER = TypeAdapter(OrderIn)

CUSTOMER_IDENTIFIER_KINDS = (
    ("email", IdentifierKind.EMAIL.value),
    ("phone", IdentifierKind.PHONE.value),
    ("loyalty_number", IdentifierKind.LOYALTY.value),
    ("pos_customer_id", IdentifierKind.POS_CUSTOMER.value),
    ("account_id", IdentifierKind.ACCOUNT.value),
)


# --- errors ------------------------------------------------------------------------------------


@dataclass(slots=True)
class BatchError:
    """One problem with one order, in the shape of drf-standardized-errors' error items."""

    attr: str
    code: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"attr": self.attr, "code": self.code, "detail": self.detail}


class BatchBodyError(Exception):
    """The body as a whole is unusable (not an object, no ``orders`` list, too many orders): answered 400."""

    def __init__(self, attr: str, code: str, detail: str):
        super().__init__(detail)
        self.attr, self.code, self.detail = attr, code, detail


# pydantic's error types -> the codes DRF's own fields use, so the API speaks one vocabulary.
_CODES = {
    "missing": "required",
    "string_too_long": "max_length",
    "string_pattern_mismatch": "invalid",
    "string_type": "invalid",
    "decimal_parsing": "invalid",
    "decimal_type": "invalid",
    "finite_number": "invalid",
    "decimal_max_digits": "max_digits",
    "decimal_max_places": "max_decimal_places",
    "decimal_whole_digits": "max_whole_digits",
    "greater_than_equal": "min_value",
    "literal_error": "invalid_choice",
    "datetime_parsing": "invalid",
    "datetime_from_date_parsing": "invalid",
    "datetime_type": "invalid",
    "too_short": "min_length",
    "too_long": "max_length",
    "list_type": "not_a_list",
    "model_type": "invalid",
    "model_attributes_type": "invalid",
    "dict_type": "invalid",
}
_OWN_CODES = {"invalid", "naive_datetime"}  # the PydanticCustomError types raised above
CHOICES = {
    "channel": "online or offline",
    "status": "completed, pending or cancelled",
    "kind": "sale or return",
}
_NOT_AN_OBJECT = {"model_type", "model_attributes_type", "dict_type"}
_ABOUT_THE_WHOLE = _NOT_AN_OBJECT | {"list_type", "too_short", "too_long"}


def _detail(error: dict, field: str) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return "This field is required."
    if kind != "missing" and error.get("input", ...) is None:
        return "This field may not be null."
    if kind in _NOT_AN_OBJECT:
        return f"Expected an object, got {type(error.get('input')).__name__}."
    if kind == "string_too_long":
        return f"At most {ctx.get('max_length')} characters."
    if kind == "string_too_short":
        return "This field may not be blank."
    if kind == "string_pattern_mismatch":
        return {
            "source": "A source is letters, digits, dots, hyphens or underscores, starting with a letter or digit.",
            "currency": "Give an ISO 4217 currency code, e.g. EUR.",
            "email": "Give an e-mail address like name@example.com.",
        }.get(field, "No line breaks, tabs or other control characters.")
    if kind in {"decimal_parsing", "decimal_type", "finite_number"}:
        return 'A valid number is required, e.g. "12.50".'
    if kind == "decimal_max_places":
        return f"At most {ctx.get('decimal_places')} decimal places."
    if kind in {"decimal_max_digits", "decimal_whole_digits"}:
        return "This number is too large."
    if kind == "greater_than_equal":
        return f"Must be {ctx.get('ge')} or more."
    if kind == "literal_error":
        return f"“{error.get('input')}” is not a valid choice: use {CHOICES.get(field, ctx.get('expected'))}."
    if kind.startswith("datetime"):
        return "Give an ISO 8601 date-time with a UTC offset, e.g. 2024-05-01T10:30:00+02:00."
    if kind == "too_short" and field == "lines":
        return "An order needs at least one line."
    if kind == "too_long" and field == "lines":
        return f"An order has at most {ORDER_MAX_LINES:,} lines."
    if kind == "list_type":
        return "Expected a list."
    return error["msg"]


def _errors_from_pydantic(index: int, exc: ValidationError) -> list[BatchError]:
    out = []
    for error in exc.errors(include_url=False):
        loc = [str(part) for part in error["loc"]]
        if loc and loc[-1] == FAST_BRANCH:
            continue  # the fast path of a decimal didn't match; the exact branch says why
        if loc and loc[-1] == EXACT_BRANCH:
            loc.pop()
        kind = error["type"]
        is_null = kind != "missing" and error.get("input", ...) is None
        if kind in _ABOUT_THE_WHOLE and not is_null:
            loc.append("non_field_errors")  # where DRF puts an error about an object or list as a whole
        field = next((part for part in reversed(loc) if not part.isdigit() and part != "non_field_errors"), "")
        if is_null:
            code = "null"
        elif kind == "string_too_short":
            code = "blank"
        else:
            code = _CODES.get(kind) or (kind if kind in _OWN_CODES else "invalid")
        out.append(BatchError(".".join(["orders", str(index), *loc]), code, _detail(error, field)))
    return out


# --- the batch ----------------------------------------------------------------------------------


def batch_orders(body: Any) -> list[Any]:
    """The ``orders`` list of a body, or :class:`BatchBodyError` (answered 400: nothing is processed).

    The attrs and codes are the ones DRF's serializers give for the same mistakes (and the products bulk
    endpoint answers): ``orders.non_field_errors`` for the list as a whole.
    """
    if not isinstance(body, dict):
        raise BatchBodyError("non_field_errors", "invalid", 'Send a JSON object: {"orders": [...]}.')
    if "orders" not in body:
        raise BatchBodyError("orders", "required", "This field is required.")
    orders = body["orders"]
    if orders is None:
        raise BatchBodyError("orders", "null", "This field may not be null.")
    if not isinstance(orders, list):
        raise BatchBodyError("orders.non_field_errors", "not_a_list", "Expected a list of orders.")
    if not orders:
        raise BatchBodyError("orders.non_field_errors", "min_length", "Send at least one order.")
    if len(orders) > BATCH_MAX_ORDERS:
        raise BatchBodyError(
            "orders.non_field_errors",
            "max_length",
            f"A batch takes at most {BATCH_MAX_ORDERS:,} orders ({len(orders):,} sent): split it into several.",
        )
    return orders


def _decimal(value: str | Decimal) -> Decimal:
    """An amount that took the fast path of :func:`_fast_decimal` (a checked string) as a ``Decimal``."""
    return Decimal(value) if type(value) is str else value


def _order_input(index: int, order: OrderIn) -> OrderInput:
    """The validated order in the ingestion service's shape, amounts as ``Decimal``, with refs for errors."""
    ref = f"orders[{index}]"
    lines = [
        LineInput(
            sku=line.sku,
            quantity=_decimal(line.quantity),
            unit_price=_decimal(line.unit_price),
            discount=_decimal(line.discount),
            kind=line.kind,
            name=line.name,
            occurred_at=line.returned_at,
            ref=f"{ref}.lines[{number}]",
        )
        for number, line in enumerate(order.lines)
    ]
    # Refunds without item detail: a return line without an SKU whose value given back is the amount.
    lines += [
        LineInput(
            sku="",
            quantity=ZERO,
            unit_price=ZERO,
            kind=LineKind.RETURN.value,
            name="Refund",
            occurred_at=refund.refunded_at,
            amount=_decimal(refund.amount),
            ref=f"{ref}.refunds[{number}]",
        )
        for number, refund in enumerate(order.refunds)
    ]
    identifiers = []
    customer_name = customer_email = ""
    if order.customer is not None:
        customer = order.customer
        for field, kind in CUSTOMER_IDENTIFIER_KINDS:
            value = getattr(customer, field)
            if value:
                identifiers.append(IdentifierInput(kind=kind, value=value, ref=f"{ref}.customer.{field}"))
        customer_name = customer.name or ""
        customer_email = customer.email or ""
    return OrderInput(
        source=order.source,
        external_id=order.external_id,
        channel=order.channel,
        placed_at=order.placed_at,
        currency=order.currency,
        store=order.store,
        status=order.status,
        lines=lines,
        order_discount=_decimal(order.order_discount),
        tax=_decimal(order.tax),
        shipping=_decimal(order.shipping),
        identifiers=identifiers,
        customer_name=customer_name,
        customer_email=customer_email,
        ref=ref,
    )


def _rule_errors(index: int, order: OrderInput, currency: str) -> list[BatchError]:
    """Rules across fields (pydantic's model validators could not name the field, so they live here)."""
    prefix = f"orders.{index}"
    errors = []
    if order.currency != currency:
        errors.append(
            BatchError(
                f"{prefix}.currency",
                "currency_mismatch",
                f"This order is in {order.currency}, but this merchant sells in {currency}: "
                "send orders in the merchant's currency.",
            )
        )
    if order.channel == Channel.OFFLINE and not order.store:
        errors.append(BatchError(f"{prefix}.store", "required", "An in-store (offline) order needs its store code."))
    for number, line in enumerate(order.lines):
        if line.kind == LineKind.SALE:
            if line.quantity <= 0:
                errors.append(
                    BatchError(
                        f"{prefix}.lines.{number}.quantity",
                        "min_value",
                        "A sale's quantity is more than 0 (a return is a line with kind “return” and a negative "
                        "quantity).",
                    )
                )
            elif line.discount and line.discount > line.unit_price * line.quantity:
                errors.append(
                    BatchError(
                        f"{prefix}.lines.{number}.discount", "max_value", "A line's discount exceeds its gross amount."
                    )
                )
            if line.occurred_at is not None:
                errors.append(
                    BatchError(
                        f"{prefix}.lines.{number}.returned_at", "invalid", "Only return lines have a returned_at."
                    )
                )
        elif line.quantity > 0:
            errors.append(
                BatchError(
                    f"{prefix}.lines.{number}.quantity",
                    "max_value",
                    "A return's quantity is the quantity given back as a negative number (or 0), e.g. -1.",
                )
            )
        elif line.discount and line.discount > line.unit_price * -line.quantity:
            errors.append(
                BatchError(
                    f"{prefix}.lines.{number}.discount", "max_value", "A line's discount exceeds its gross amount."
                )
            )
    return errors


@dataclass(slots=True)
class ValidatedOrder:
    """One item of the batch after validation: an ``order`` to ingest, or ``errors``."""

    index: int
    external_id: str | None  # as sent (normalised when valid), for the answer
    order: OrderInput | None
    errors: list[BatchError]


def _identity(raw: Any) -> tuple[str, str] | None:
    """(source, external_id) as the order will be stored, read from the raw item (valid or not)."""
    if not isinstance(raw, dict):
        return None
    external_id = raw.get("external_id")
    if isinstance(external_id, int) and not isinstance(external_id, bool):
        external_id = str(external_id)
    if not isinstance(external_id, str) or not external_id.strip():
        return None
    source = raw.get("source", DEFAULT_SOURCE)
    return (source.strip().lower() if isinstance(source, str) else str(source), external_id.strip())


def batch_validate(orders: list[Any], *, currency: str) -> list[ValidatedOrder]:
    """Validate each order of a batch on its own.

    An order whose (source, external_id) appeared earlier in the batch is an error, whether or not the earlier
    one was valid: the position decides, so the answer doesn't depend on which copy had a typo.
    """
    validate = ORDER_ADAPTER.validate_python
    results: list[ValidatedOrder] = []
    first_seen: dict[tuple[str, str], int] = {}
    for index, raw in enumerate(orders):
        identity = _identity(raw)
        duplicate_of = None
        if identity is not None:
            duplicate_of = first_seen.setdefault(identity, index)
            if duplicate_of == index:
                duplicate_of = None
        order_input = None
        try:
            order_input = _order_input(index, validate(raw))
        except ValidationError as exc:
            errors = _errors_from_pydantic(index, exc)
        else:
            errors = _rule_errors(index, order_input, currency)
        if duplicate_of is not None:
            source, external_id = identity
            errors.insert(
                0,
                BatchError(
                    f"orders.{index}.external_id",
                    "duplicate",
                    f"Order {source}:{external_id} is already in this batch at index {duplicate_of}.",
                ),
            )
        if errors:
            order_input = None
        results.append(ValidatedOrder(index, identity[1] if identity else None, order_input, errors))
    return results


_REF_INDEX = re.compile(r"\[(\d+)\]")


def attr_from_ref(ref: str, column: str = "") -> str:
    """``orders[3].lines[1]`` + ``quantity`` -> ``orders.3.lines.1.quantity`` (the ingestion service's refs)."""
    attr = _REF_INDEX.sub(r".\1", ref).strip(".")
    if column and attr.rsplit(".", 1)[-1] != column:
        attr = f"{attr}.{column}"
    return attr
