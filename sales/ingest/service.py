"""The one ingestion service: every way in (API batches, file imports, seed data) ends in :func:`orders_ingest`.

Per call, whatever the number of orders (see ``writer.py`` for the statements):

1. validate and normalise each order in Python (no query, except the merchant's stores once per context):
   currency, channel, status, store, lines, money (quantised), local days, identifiers (normalised, hashed),
   content hash;
2. read the stored ``(id, content_hash)`` of these orders in one query; unchanged orders stop here (an
   identical batch sent again only reads);
3. resolve customers (``identity.customers_resolve``: its own short transaction under the merchant's advisory
   lock);
4. write in one transaction: products (placeholders for unknown SKUs), orders (staging table + ``COPY`` +
   upsert), lines (``COPY``), and the touched days (``sales.services.rollups_mark_dirty``).

Step 1 is :func:`orders_prepare`, steps 2 to 4 :func:`orders_write_prepared`: file imports run them as a
pipeline (``sales.ingest.pipeline``), the next batch prepared in a thread while this one is written, and with
``IngestContext(durable=False)`` (``synchronous_commit = off``). While an ingest runs the garbage collector's
thresholds are raised (``sales.ingest.runtime``).

An order is written whole or not at all; invalid orders are reported (``OrderOutcome`` with ``RowError``s) and
skipped, never raised. Callers wanting all-or-nothing check the outcomes and roll back their own transaction:
this service nests inside it (savepoints).

Money rules (``../shared/DESIGN.md``, "What the numbers mean"): amounts are quantised to cents (half up),
quantities to 3 decimals. Sale line: gross = unit price × quantity, net = gross − discount. Return line:
quantity ≤ 0, value given back = ``amount`` when given, else unit price × |quantity| − discount; it is stored
as gross = net = −value, discount 0, on the local day of ``occurred_at`` (the refund). Order: gross = Σ sale
gross, discounts = Σ sale discounts + order discount, refunds = Σ values given back, net = gross − discounts −
refunds.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
import zoneinfo
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import OperationalError, connection, transaction

from catalog.validation import normalize_sku, validate_sku
from sales.models import Channel, IdentifierKind, ImportJob, LineKind, OrderStatus
from sales.services import rollups_mark_dirty
from stores.models import Store
from stores.validation import normalize_store_code

from . import writer
from .identity import IDENTIFIER_KINDS, CustomerClaim, Identity, IdentityHasher, customers_resolve, use_postgres
from .runtime import gc_relaxed
from .types import ZERO, IdentifierInput, LineInput, OrderInput, OrderOutcome, RowError

logger = logging.getLogger(__name__)

CENT = Decimal("0.01")
MILLI = Decimal("0.001")
QUANTITY_LIMIT = Decimal("1e9")  # DecimalField(max_digits=12, decimal_places=3)
PRICE_LIMIT = Decimal("1e10")  # DecimalField(max_digits=12, decimal_places=2)
TOTAL_LIMIT = Decimal("1e12")  # DecimalField(max_digits=14, decimal_places=2)
SOURCE_MAX_LENGTH = 32
EXTERNAL_ID_MAX_LENGTH = 128
VALUE_MAX_LENGTH = 200
DEADLOCK_ATTEMPTS = 3
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure
HASH_VERSION = "1"
SKU_CACHE_MAX = 500_000

SALE, RETURN = LineKind.SALE.value, LineKind.RETURN.value
CHANNELS = frozenset(Channel.values)
STATUSES = frozenset(OrderStatus.values)
_ROW_RE = re.compile(r"^rows? (\d+)")


class IngestError(Exception):
    """A problem with one order; becomes a ``RowError``."""

    def __init__(self, ref: str, column: str, value: object, reason: str):
        super().__init__(reason)
        self.error = row_error(ref, column, value, reason)


def row_error(ref: str, column: str, value: object, reason: str) -> RowError:
    match = _ROW_RE.match(ref)
    text = "" if value is None else str(value)
    return RowError(
        ref=ref,
        column=column,
        value=text if len(text) <= VALUE_MAX_LENGTH else text[: VALUE_MAX_LENGTH - 1] + "…",
        reason=reason,
        row=int(match.group(1)) if match else None,
    )


# --- the merchant's stores ------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class StoreInfo:
    id: int
    code: str
    name: str
    tzinfo: zoneinfo.ZoneInfo
    country: str


class StoreDirectory:
    """A merchant's stores by code and by (case-insensitive) name, loaded in one query."""

    def __init__(self, stores: Sequence[StoreInfo]):
        self.by_code = {store.code: store for store in stores}
        names: dict[str, StoreInfo | None] = {}
        for store in stores:
            folded = store.name.strip().casefold()
            names[folded] = None if folded in names else store  # None: two stores share this name
        self.by_name = names
        countries = Counter(store.country for store in stores if store.country)
        # The most common country (ties: alphabetical), the default region for phone numbers.
        self.main_country = min(countries, key=lambda c: (-countries[c], c)) if countries else None

    @classmethod
    def load(cls, merchant_id: int) -> StoreDirectory:
        rows = Store.objects.for_merchant(merchant_id).values_list("id", "code", "name", "timezone", "country")
        return cls(
            [
                StoreInfo(pk, code, name, zoneinfo.ZoneInfo(tz), str(country or ""))
                for pk, code, name, tz, country in rows
            ]
        )

    def find(self, value: str, mapping: dict[str, str]) -> StoreInfo | None:
        """By code, then by name (case-insensitive), then through ``mapping`` (the file's name -> a code)."""
        text = value.strip()
        store = self.by_code.get(normalize_store_code(text)) or self.by_name.get(text.casefold())
        if store is None and mapping:
            code = mapping.get(text)
            if code is None:
                folded = text.casefold()
                code = next((c for name, c in mapping.items() if name.strip().casefold() == folded), None)
            if code:
                store = self.by_code.get(normalize_store_code(code))
        return store


class IngestContext:
    """What ``orders_ingest`` caches between the batches of one import (or one API request): the merchant's
    stores, SKU -> product id, the identity hasher (with its phone cache). Never shared between merchants
    or kept across transactions that may roll back (a cached placeholder id would then point nowhere).

    ``durable=False`` (file imports) commits without waiting for the WAL flush (see ``_commit_mode``)."""

    def __init__(self, merchant, *, durable: bool = True):
        self.merchant_id = merchant.pk
        self.durable = durable
        self.merchant_tz = zoneinfo.ZoneInfo(merchant.timezone)
        self.product_ids: dict[str, int] = {}
        self.checked_skus: dict[str, str] = {}
        self.hasher = IdentityHasher(merchant.pk)
        self._stores: StoreDirectory | None = None

    @property
    def stores(self) -> StoreDirectory:
        if self._stores is None:
            self._stores = StoreDirectory.load(self.merchant_id)
        return self._stores


# --- validation and normalisation -------------------------------------------------------------


def _number(value: object, ref: str, column: str) -> Decimal:
    if type(value) is Decimal:
        number = value
    elif isinstance(value, int | str | float) and not isinstance(value, bool):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise IngestError(ref, column, value, "not a number") from None
    else:
        raise IngestError(ref, column, value, "not a number")
    if not number.is_finite():
        raise IngestError(ref, column, value, "not a number")
    return number


def _amount(value: object, ref: str, column: str, limit: Decimal = PRICE_LIMIT) -> Decimal:
    """A non-negative amount of money, quantised to cents."""
    number = value if type(value) is Decimal and value.is_finite() else _number(value, ref, column)
    if number < 0:
        raise IngestError(ref, column, value, f"the {column.replace('_', ' ')} cannot be negative")
    number = number.quantize(CENT, ROUND_HALF_UP)
    if number >= limit:
        raise IngestError(ref, column, value, "too large")
    return number


def _aware(value: object, ref: str, column: str) -> datetime:
    if not isinstance(value, datetime):
        raise IngestError(ref, column, value, "not a date and time")
    if value.tzinfo is None or value.utcoffset() is None:
        raise IngestError(ref, column, value.isoformat(), "the date and time has no time zone")
    return value


def _sku(value: str, ref: str, checked: dict[str, str]) -> str:
    """The SKU as stored (stripped, validated); ``checked`` remembers SKUs already validated (raw -> SKU)."""
    try:
        return checked[value]
    except KeyError:
        pass
    sku = normalize_sku(value)
    try:
        validate_sku(sku)
    except ValidationError as error:
        raise IngestError(ref, "sku", value, " ".join(error.messages)) from None
    if len(checked) < SKU_CACHE_MAX:
        checked[value] = sku
    return sku


def _line_prepare(
    line: LineInput,
    number: int,
    ref: str,
    placed_at: datetime,
    local_date: date,
    tz: zoneinfo.ZoneInfo,
    checked_skus: dict[str, str],
) -> writer.PreparedLine:
    # The hot loop of every ingest: fast paths for well-typed input, the checks in _number/_amount otherwise.
    ref = line.ref or ref
    quantity = line.quantity
    if type(quantity) is not Decimal or not quantity.is_finite():
        quantity = _number(quantity, ref, "quantity")
    quantity = quantity.quantize(MILLI, ROUND_HALF_UP)
    if quantity >= QUANTITY_LIMIT or quantity <= -QUANTITY_LIMIT:
        raise IngestError(ref, "quantity", line.quantity, "too large")
    unit_price = _amount(line.unit_price, ref, "unit_price")
    discount = ZERO if line.discount is ZERO else _amount(line.discount, ref, "discount", TOTAL_LIMIT)
    kind = line.kind
    if kind == SALE:
        raw_sku = line.sku
        sku = checked_skus.get(raw_sku) if raw_sku else None
        if sku is None:
            if not raw_sku or not raw_sku.strip():
                raise IngestError(ref, "sku", raw_sku, "a sale line needs an SKU")
            sku = _sku(raw_sku, ref, checked_skus)
        if quantity <= 0:
            raise IngestError(ref, "quantity", line.quantity, "a sale's quantity must be more than 0")
        gross = (unit_price * quantity).quantize(CENT, ROUND_HALF_UP)
        if gross >= TOTAL_LIMIT:
            raise IngestError(ref, "quantity", line.quantity, "the line's total is too large")
        if discount > gross:
            raise IngestError(ref, "discount", line.discount, f"the discount is more than the line's gross ({gross})")
        return writer.PreparedLine(
            number, SALE, sku, line.name, line.category, quantity, unit_price, gross, discount, gross - discount,
            local_date, placed_at,
        )  # fmt: skip
    if kind != RETURN:
        raise IngestError(ref, "kind", kind, "the kind of a line is sale or return")
    sku = _sku(line.sku, ref, checked_skus) if line.sku and line.sku.strip() else ""
    if quantity > 0:
        raise IngestError(ref, "quantity", line.quantity, "a return's quantity must be 0 or less")
    if line.amount is not None:
        value = _amount(line.amount, ref, "amount", TOTAL_LIMIT)
    elif not sku:
        raise IngestError(ref, "amount", "", "a refund without an SKU needs its amount")
    else:
        value = (unit_price * -quantity).quantize(CENT, ROUND_HALF_UP) - discount
        if value < 0:
            raise IngestError(ref, "discount", line.discount, "the discount is more than the returned value")
        if value >= TOTAL_LIMIT:
            raise IngestError(ref, "quantity", line.quantity, "the line's total is too large")
    if line.occurred_at is None or line.occurred_at == placed_at:
        occurred_at, day = placed_at, local_date
    else:
        occurred_at = _aware(line.occurred_at, ref, "occurred_at").astimezone(UTC)
        day = occurred_at.astimezone(tz).date()
    return writer.PreparedLine(
        number, RETURN, sku, line.name, line.category, quantity, unit_price, -value, ZERO, -value, day, occurred_at
    )


def _identities(
    identifiers: list[IdentifierInput], ref: str, hasher: IdentityHasher, region: str | None
) -> list[Identity]:
    seen: dict[str, Identity] = {}
    for identifier in identifiers:
        kind = identifier.kind
        if kind not in IDENTIFIER_KINDS:
            raise IngestError(
                identifier.ref or ref, "kind", kind, f"unknown identifier kind (use {', '.join(IdentifierKind.values)})"
            )
        identity = hasher.identity(kind, identifier.value or "", region)
        if identity is not None:
            seen.setdefault(identity.value_hash, identity)
    return list(seen.values())


def _order_prepare(
    order: OrderInput, index: int, *, merchant, context: IngestContext, store_mapping: dict[str, str]
) -> writer.PreparedOrder:
    ref = order.ref or f"orders[{index}]"
    source = (order.source or "").strip()
    if not source or len(source) > SOURCE_MAX_LENGTH:
        raise IngestError(ref, "source", order.source, f"the source is 1 to {SOURCE_MAX_LENGTH} characters")
    external_id = (order.external_id or "").strip()
    if not external_id or len(external_id) > EXTERNAL_ID_MAX_LENGTH:
        raise IngestError(
            ref, "external_id", order.external_id, f"the external id is 1 to {EXTERNAL_ID_MAX_LENGTH} characters"
        )
    currency = (order.currency or "").strip().upper() or merchant.currency
    if currency != merchant.currency:
        raise IngestError(
            ref, "currency", order.currency, f"currency {currency}, this merchant sells in {merchant.currency}"
        )
    channel = order.channel
    if channel not in CHANNELS:
        raise IngestError(ref, "channel", channel, "the channel is online or offline")
    status = order.status or OrderStatus.COMPLETED
    if status not in STATUSES:
        raise IngestError(ref, "status", status, f"the status is one of {', '.join(OrderStatus.values)}")
    store = None
    if order.store and order.store.strip():
        store = context.stores.find(order.store, store_mapping)
        if store is None:
            raise IngestError(ref, "store", order.store.strip(), "unknown store")
    elif channel == Channel.OFFLINE:
        raise IngestError(ref, "store", "", "an in-store (offline) order needs a store")
    if not order.lines:
        raise IngestError(ref, "lines", "", "an order needs at least one line")
    placed_at = _aware(order.placed_at, ref, "placed_at").astimezone(UTC)
    tz = store.tzinfo if channel == Channel.OFFLINE else context.merchant_tz
    local_date = placed_at.astimezone(tz).date()
    # (ZERO, the dataclass default, needs no check: most orders leave some of these out)
    order_discount = (
        ZERO if order.order_discount is ZERO else _amount(order.order_discount, ref, "order_discount", TOTAL_LIMIT)
    )
    tax = ZERO if order.tax is ZERO else _amount(order.tax, ref, "tax", TOTAL_LIMIT)
    shipping = ZERO if order.shipping is ZERO else _amount(order.shipping, ref, "shipping", TOTAL_LIMIT)

    lines = []
    gross = discounts = refunds = ZERO
    for number, line in enumerate(order.lines, start=1):
        prepared = _line_prepare(line, number, ref, placed_at, local_date, tz, context.checked_skus)
        lines.append(prepared)
        if prepared.kind == SALE:
            gross += prepared.gross
            discounts += prepared.discount
        else:
            refunds -= prepared.net
    discounts += order_discount
    net = gross - discounts - refunds
    if gross >= TOTAL_LIMIT or discounts >= TOTAL_LIMIT or refunds >= TOTAL_LIMIT or net <= -TOTAL_LIMIT:
        raise IngestError(ref, "lines", "", "the order's total is too large")

    region = (store.country if store else None) or context.stores.main_country
    identities = _identities(order.identifiers, ref, context.hasher, region)
    customer_name = (order.customer_name or "").strip()[:200]
    customer_email = (order.customer_email or "").strip()[:254]
    placed_text, day_text = placed_at.isoformat(), local_date.isoformat()
    content = [
        HASH_VERSION, channel, str(store.id) if store else "", placed_text, day_text, currency, status,
        str(order_discount), str(tax), str(shipping), customer_name, customer_email,
        ",".join(sorted(identity.value_hash for identity in identities)),
    ]  # fmt: skip
    for line in lines:
        # The normalised values as COPY text: hashed here, written as is by the writer (converted once).
        if line.occurred_at is placed_at:
            occurred_text, line_day_text = placed_text, day_text
        else:
            occurred_text, line_day_text = line.occurred_at.isoformat(), line.local_date.isoformat()
        line.values_text = "\t".join(
            (str(line.quantity), str(line.unit_price), str(line.gross), str(line.discount), str(line.net),
             line_day_text, occurred_text)
        )  # fmt: skip
        content += (line.kind, line.sku, line.values_text)
    content_hash = hashlib.md5("\x1e".join(content).encode(), usedforsecurity=False).hexdigest()
    claim = None
    if identities:
        claim = CustomerClaim(
            identities=identities,
            placed_at=placed_at,
            source=source,
            external_id=external_id,
            display_name=customer_name,
            email=customer_email,
        )
    return writer.PreparedOrder(
        index, source, external_id, channel, store.id if store else None, placed_at, local_date, currency, status,
        gross, discounts, refunds, tax, shipping, net, content_hash, lines, claim, placed_text=placed_text,
    )  # fmt: skip


# --- the service ------------------------------------------------------------------------------


@dataclass(slots=True)
class PreparedBatch:
    """A batch after :func:`orders_prepare`: one outcome per input order (errors already filled in) and the
    valid orders, normalised, waiting for :func:`orders_write_prepared`."""

    outcomes: list[OrderOutcome]
    prepared: list[writer.PreparedOrder]


def orders_ingest(
    *,
    merchant,
    orders: Sequence[OrderInput],
    job: ImportJob | None = None,
    store_mapping: dict[str, str] | None = None,
    actor=None,
    context: IngestContext | None = None,
) -> list[OrderOutcome]:
    """Validate, resolve and write ``orders`` for ``merchant``; one outcome per order, in input order.

    ``job`` is recorded on the written orders; ``store_mapping`` maps store names as a file calls them to
    store codes; ``context`` (an :class:`IngestContext`) carries caches between the batches of one import.
    ``actor`` is accepted for the service signature's sake: imports and API calls record who acted on their
    own rows (``ImportJob``, the audit log), not per order.

    The same as :func:`orders_prepare` then :func:`orders_write_prepared`; file imports run the two halves
    in a pipeline (``sales.ingest.pipeline``) so that the next batch is parsed and prepared while this one is
    written.
    """
    if context is None:
        context = IngestContext(merchant)
    with gc_relaxed():
        batch = orders_prepare(merchant=merchant, orders=orders, store_mapping=store_mapping, context=context)
        return orders_write_prepared(merchant=merchant, batch=batch, job=job, context=context)


def orders_prepare(
    *,
    merchant,
    orders: Sequence[OrderInput],
    store_mapping: dict[str, str] | None = None,
    context: IngestContext,
) -> PreparedBatch:
    """Step 1 of :func:`orders_ingest`: validate and normalise ``orders`` in Python. No query (the merchant's
    stores are read once per context: load ``context.stores`` first when calling this from another thread)."""
    if context.merchant_id != merchant.pk:
        raise ValueError("an IngestContext belongs to one merchant")
    mapping = store_mapping or {}
    outcomes: list[OrderOutcome] = []
    prepared: list[writer.PreparedOrder] = []
    first_seen: dict[tuple[str, str], str] = {}
    for index, order in enumerate(orders):
        ref = order.ref or f"orders[{index}]"
        outcome = OrderOutcome(ref=ref, external_id=order.external_id, result="error")
        outcomes.append(outcome)
        key = ((order.source or "").strip(), (order.external_id or "").strip())
        if key in first_seen:
            outcome.errors.append(
                row_error(ref, "external_id", order.external_id, f"duplicate external id, first at {first_seen[key]}")
            )
            continue
        first_seen[key] = ref
        try:
            prepared.append(_order_prepare(order, index, merchant=merchant, context=context, store_mapping=mapping))
        except IngestError as error:
            outcome.errors.append(error.error)
    return PreparedBatch(outcomes, prepared)


def orders_write_prepared(
    *, merchant, batch: PreparedBatch, job: ImportJob | None = None, context: IngestContext
) -> list[OrderOutcome]:
    """Steps 2 to 4 of :func:`orders_ingest` for a batch from :func:`orders_prepare` (in the thread that owns
    the database connection): skip unchanged orders, resolve customers, write. Returns ``batch.outcomes``."""
    if context.merchant_id != merchant.pk:
        raise ValueError("an IngestContext belongs to one merchant")
    outcomes, prepared = batch.outcomes, batch.prepared
    existing = writer.orders_existing(merchant.pk, [order.key for order in prepared])
    to_write = []
    for order in prepared:
        stored = existing.get(order.key)
        if stored is not None and stored.content_hash == order.content_hash:
            outcomes[order.index].result = "unchanged"
            outcomes[order.index].order_id = stored.id
        else:
            to_write.append(order)
    if not to_write:
        return outcomes

    with_claims = [order for order in to_write if order.claim is not None]
    if with_claims:

        def resolve() -> list[int | None]:
            claims = [order.claim for order in with_claims]
            if context.durable:
                return customers_resolve(merchant=merchant, claims=claims)  # its own transaction
            with transaction.atomic():
                _commit_mode(context)
                return customers_resolve(merchant=merchant, claims=claims)

        customer_ids = _retrying(resolve)
        for order, customer_id in zip(with_claims, customer_ids, strict=True):
            order.customer_id = customer_id

    def write() -> tuple[writer.WriteResult, dict[str, int]]:
        with transaction.atomic():
            _commit_mode(context)
            survivors = writer.customers_survivors(merchant.pk, [o.customer_id for o in with_claims])
            for order in with_claims:
                order.customer_id = survivors.get(order.customer_id, order.customer_id)
            learned = writer.products_resolve(
                merchant.pk, (line for order in to_write for line in order.lines), context.product_ids
            )
            known = context.product_ids
            for order in to_write:
                for line in order.lines:
                    if line.sku:
                        line.product_id = known.get(line.sku) or learned[line.sku]
            result = writer.orders_write(
                merchant_id=merchant.pk, orders=to_write, existing=existing, job_id=job.pk if job else None
            )
            rollups_mark_dirty(merchant, result.dates)
        return result, learned

    result, learned = _retrying(write)
    context.product_ids.update(learned)
    for order in to_write:
        order_id, outcome = result.orders[order.key]
        outcomes[order.index].result = outcome
        outcomes[order.index].order_id = order_id
    return outcomes


def _commit_mode(context: IngestContext) -> None:
    """``SET LOCAL synchronous_commit = off`` for contexts that asked for it (file imports): the commit does
    not wait for the WAL flush. A crash may lose the last commits (never half of one): the import job is then
    run again, and it is idempotent. API batches keep durable commits: their answer promises the write."""
    if not context.durable and use_postgres():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")


def _retrying(function):
    """Run ``function`` (a transaction or savepoint of its own) again when PostgreSQL chose it as a deadlock
    victim: the other transaction has gone on, the retry usually passes."""
    for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
        try:
            return function()
        except OperationalError as error:
            if attempt == DEADLOCK_ATTEMPTS or getattr(error.__cause__, "sqlstate", None) not in RETRYABLE_SQLSTATES:
                raise
            logger.warning("ingest: %s, retrying (attempt %s of %s)", error, attempt + 1, DEADLOCK_ATTEMPTS)
            time.sleep(0.05 * attempt)
    raise AssertionError("unreachable")
