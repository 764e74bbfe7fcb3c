"""Square's item-level sales export ("Items Detail" CSV, ``../shared/formats/square-items-detail.md``) →
``OrderInput``.

- Rows are grouped by (``Transaction ID``, ``Event Type``) while consecutive. ``Payment`` rows make a sale with
  external id ``<Transaction ID>``; ``Refund`` rows make a separate order ``<Transaction ID>:refund`` holding
  return lines (negative quantities; the value given back is ``|Net Sales|``), each dated at its own row's
  time. Source ``square``. Without an ``Event Type`` column, negative quantities mean a refund.
- ``Date`` (``2026-07-18`` or US ``07/18/2026``) + ``Time`` + ``Time Zone`` (Rails names such as
  ``Eastern Time (US & Canada)``, or IANA names) give the local time; an unknown zone name, a time inside a
  daylight-saving gap, or an ambiguous time (taken as its first occurrence) are handled as in
  :func:`sales.parsers.base.localize`. Without a ``Time Zone`` column the merchant's time zone is used.
- Money is ``$1,250.00`` / ``-$8.00`` / ``($8.00)`` / ``€12.50``; Square writes no currency code, so the
  merchant's currency is assumed and a symbol that contradicts it is an error.
- Sale lines: quantity ``Qty`` (fractional allowed), unit price ``Gross Sales / Qty``, discount
  ``|Discounts|`` (or ``Gross − Net`` without a Discounts column). Tax: Σ ``Tax`` of the sale's rows (refunds
  carry none).
- Store: ``Location``. ``Channel`` naming Square Online (containing "online") → online order, Location passed on
  as the fulfilling store; anything else → in store (offline), Location required.
- Items without ``SKU`` get ``SQ-<ITEM>-<PRICE-POINT>`` (stable, at most 64 characters) and the name
  ``Item (Price Point)``. Customer: ``Customer ID`` → POS customer id, ``Customer Reference ID`` → loyalty
  number, ``Customer Name``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from sales.ingest.types import ZERO, IdentifierInput, LineInput, OrderInput, RowError

from .base import (
    CATEGORY_MAX_LENGTH,
    CUSTOMER_NAME_MAX_LENGTH,
    EXTERNAL_ID_MAX_LENGTH,
    PRODUCT_NAME_MAX_LENGTH,
    SKU_MAX_LENGTH,
    Context,
    CsvRows,
    Header,
    RecentOrderIds,
    derive_sku,
    duplicate_order_error,
    is_blank,
    length_error,
    localize,
    parse_date,
    parse_time,
    row_error,
    rows_ref,
)
from .money import QUANTITY_MAX, DecimalReader, MoneyReader
from .rails_timezones import resolve_time_zone

SOURCE = "square"
SKU_PREFIX = "SQ-"
REFUND_SUFFIX = ":refund"

DATE = "Date"
TIME = "Time"
TIME_ZONE = "Time Zone"
CATEGORY = "Category"
ITEM = "Item"
QTY = "Qty"
PRICE_POINT = "Price Point Name"
SKU = "SKU"
GROSS_SALES = "Gross Sales"
DISCOUNTS = "Discounts"
NET_SALES = "Net Sales"
TAX = "Tax"
TRANSACTION_ID = "Transaction ID"
EVENT_TYPE = "Event Type"
LOCATION = "Location"
CUSTOMER_ID = "Customer ID"
CUSTOMER_NAME = "Customer Name"
CUSTOMER_REFERENCE_ID = "Customer Reference ID"
CHANNEL = "Channel"

REQUIRED_COLUMNS = (DATE, TIME, ITEM, QTY, GROSS_SALES, NET_SALES, TRANSACTION_ID)
_CACHE_MAX = 20_000


class _Order:
    __slots__ = ("customer_pending", "errors", "first_row", "key", "last_row", "order", "orphan_rows", "refund")

    def __init__(self, key: tuple[str, bool], row: int):
        self.key = key
        self.refund = key[1]
        self.first_row = self.last_row = row
        self.order: OrderInput | None = None
        self.errors: list[RowError] = []
        self.orphan_rows: list[int] = []
        self.customer_pending = True  # customer columns still to look at on later rows

    def finish(self) -> list[OrderInput | RowError]:
        if self.errors:
            if len(self.orphan_rows) == len(self.errors):
                rows = ", ".join(str(row) for row in self.orphan_rows)
                self.errors.insert(
                    0,
                    row_error(
                        self.first_row,
                        TRANSACTION_ID,
                        self.key[0],
                        f"transaction {self.key[0]} not imported: row {rows} next to it could not be read and may "
                        "belong to it",
                    ),
                )
            return self.errors  # type: ignore[return-value]
        order = self.order
        if order is None:  # pragma: no cover - an order without errors always has its head
            return []
        order.ref = rows_ref(self.first_row, self.last_row)
        return [order]


class _CellError(Exception):
    def __init__(self, column: str, value: str, reason: str):
        self.column, self.value, self.reason = column, value, reason


class _Clock:
    """Date + Time + Time Zone → aware datetime, cached per distinct triple (rows of a sale share it); days and
    zones are cached on their own, and a day without a clock change skips the daylight-saving checks."""

    def __init__(self, default_zone: str):
        self.default_zone = default_zone
        self.cache: dict[tuple[str, str, str], datetime | tuple[str, str, str]] = {}
        self.zones: dict[str, ZoneInfo | None] = {}
        self.days: dict[str, date | str] = {}
        self.plain_days: dict[tuple[date, str], bool] = {}

    def __call__(self, day: str, clock: str, zone_name: str) -> datetime:
        key = (day, clock, zone_name)
        found = self.cache.get(key)
        if found is None:
            found = self._read(day, clock, zone_name)
            if len(self.cache) >= _CACHE_MAX:
                self.cache.clear()
            self.cache[key] = found
        if found.__class__ is tuple:
            raise _CellError(*found)  # type: ignore[misc]
        return found  # type: ignore[return-value]

    def _read(self, day: str, clock: str, zone_name: str) -> datetime | tuple[str, str, str]:
        zone = self.zones.get(zone_name, _MISSING)
        if zone is _MISSING:
            zone = self.zones[zone_name] = resolve_time_zone(zone_name.strip() or self.default_zone)
        if zone is None:
            return (TIME_ZONE, zone_name, f"unknown time zone '{zone_name.strip() or self.default_zone}'")
        local_day = self.days.get(day)
        if local_day is None:
            try:
                local_day = parse_date(day)
            except ValueError as exc:
                local_day = str(exc)
            if len(self.days) >= _CACHE_MAX:
                self.days.clear()
            self.days[day] = local_day
        if local_day.__class__ is str:
            return (DATE, day, local_day)  # type: ignore[return-value]
        try:
            if len(clock) == 8 and clock[2] == ":":
                local_time = time.fromisoformat(clock)
            else:
                local_time = parse_time(clock)
        except ValueError:
            return (TIME, clock, "not a time of day (expected 12:59:30)")
        plain_key = (local_day, zone.key)  # type: ignore[union-attr]
        plain = self.plain_days.get(plain_key)  # type: ignore[arg-type]
        if plain is None:
            plain = self.plain_days[plain_key] = (  # type: ignore[index]
                datetime.combine(local_day, time(0), zone).utcoffset()  # type: ignore[arg-type]
                == datetime.combine(local_day, time(23, 59, 59), zone).utcoffset()  # type: ignore[arg-type]
            )
        if plain:
            return datetime.combine(local_day, local_time, zone)  # type: ignore[arg-type]
        try:
            return localize(datetime.combine(local_day, local_time), zone, zone.key)  # type: ignore[arg-type, union-attr]
        except ValueError as exc:
            return (TIME, f"{day} {clock}".strip(), str(exc))


_MISSING = object()


def read_orders(rows: CsvRows, header: Header, context: Context) -> Iterator[OrderInput | RowError]:
    width = len(header)

    def position(name: str) -> int:  # a missing column reads as the empty cell appended at ``width``
        index = header.index(name)
        return index if index >= 0 else width

    i_txn, i_event = position(TRANSACTION_ID), position(EVENT_TYPE)
    has_event_type = header.index(EVENT_TYPE) >= 0
    has_discounts = header.index(DISCOUNTS) >= 0
    i_date, i_time, i_zone = position(DATE), position(TIME), position(TIME_ZONE)
    i_item, i_point, i_sku, i_category = position(ITEM), position(PRICE_POINT), position(SKU), position(CATEGORY)
    i_qty, i_gross, i_discounts, i_net, i_tax = (
        position(QTY),
        position(GROSS_SALES),
        position(DISCOUNTS),
        position(NET_SALES),
        position(TAX),
    )
    i_location, i_channel = position(LOCATION), position(CHANNEL)
    i_customer_id, i_reference, i_customer_name = (
        position(CUSTOMER_ID),
        position(CUSTOMER_REFERENCE_ID),
        position(CUSTOMER_NAME),
    )
    values = _LineValues(context.currency, has_discounts)
    line_cache = values.cache
    taxes = values.taxes
    products = _Products()
    product_cache = products.cache
    clock = _Clock(context.timezone)
    moments = clock.cache
    recent = RecentOrderIds()
    current: _Order | None = None
    current_key: tuple[str, str] | None = None  # (Transaction ID, Event Type) cells as written

    for row, cells, error in rows:
        if error is not None or len(cells) != width:  # type: ignore[arg-type]
            if error is None:
                if is_blank(cells):  # type: ignore[arg-type]
                    continue
                error = length_error(row, cells, width)  # type: ignore[arg-type]
                if error is None:
                    cells = cells[:width]  # type: ignore[index]
            if error is not None:
                key = cells[i_txn].strip() if cells is not None and i_txn < len(cells) else ""
                if key and key != (current.key[0] if current is not None else ""):
                    # The broken row starts another order: that order is left out, with this error.
                    if current is not None:
                        yield from current.finish()
                    current = _Order((key, False), row)
                    current_key = None
                    current.errors.append(error)
                elif current is None:
                    yield error
                else:
                    current.errors.append(error)
                    current.last_row = row
                    if cells is None:
                        current.orphan_rows.append(row)
                continue
        cells.append("")  # what the missing columns read

        raw_key = (cells[i_txn], cells[i_event])
        errors: list[RowError] = []
        if raw_key != current_key:
            refund = _is_refund(cells, row, i_event, i_qty, has_event_type, errors)
            key = (raw_key[0].strip(), refund)
            if current is not None and key == current.key and not errors:
                current.last_row = row
                current_key = raw_key
                new_order = False
            else:
                if current is not None:
                    yield from current.finish()
                if not key[0] and is_blank(cells):
                    current, current_key = None, None
                    continue
                current = _Order(key, row)
                current_key = raw_key
                new_order = True
        else:
            current.last_row = row  # type: ignore[union-attr]
            new_order = False
        refund = current.refund  # type: ignore[union-attr]

        moment = moments.get((cells[i_date], cells[i_time], cells[i_zone]))
        if moment is None or moment.__class__ is tuple:
            try:
                moment = clock(cells[i_date], cells[i_time], cells[i_zone])
            except _CellError as exc:
                errors.append(row_error(row, exc.column, exc.value, exc.reason))
                moment = None

        line_key = (cells[i_qty], cells[i_gross], cells[i_discounts], cells[i_net], refund)
        line_values = line_cache.get(line_key)
        if line_values is None:
            line_values = values.read(line_key)
        if line_values.__class__ is list:  # the errors of these cells
            errors.extend(row_error(row, *problem) for problem in line_values)  # type: ignore[union-attr]
        tax = taxes.get(cells[i_tax])
        if tax is None:
            tax = values.tax(cells[i_tax], row, errors)

        product_key = (cells[i_sku], cells[i_item], cells[i_point], cells[i_category])
        product = product_cache.get(product_key)
        if product is None:
            product = products.read(product_key)
        if product.__class__ is tuple and product[0] is None:  # type: ignore[index]
            errors.append(row_error(row, product[1], product[2], product[3]))  # type: ignore[index, misc]

        if new_order and not errors:
            _start_order(current, row, cells, moment, context.currency, recent, i_location, i_channel, errors)  # type: ignore[arg-type]
        if errors:
            current.errors.extend(errors)  # type: ignore[union-attr]
            continue
        if current.errors or current.order is None:  # type: ignore[union-attr]
            continue
        order = current.order  # type: ignore[union-attr]
        quantity, unit_price, discount, amount = line_values  # type: ignore[misc]
        sku, name, category = product  # type: ignore[misc]
        ref = f"row {row}"
        if refund:
            order.lines.append(
                LineInput(sku, quantity, unit_price, discount, "return", name, category, moment, amount, ref)
            )
        else:
            order.lines.append(LineInput(sku, quantity, unit_price, discount, "sale", name, category, None, None, ref))
            order.tax += tax
        if current.customer_pending and (cells[i_customer_id] or cells[i_reference] or cells[i_customer_name]):  # type: ignore[union-attr]
            current.customer_pending = _add_customer(
                order, ref, cells[i_customer_id], cells[i_reference], cells[i_customer_name]
            )

    if current is not None:
        yield from current.finish()


def _is_refund(
    cells: list[str], row: int, i_event: int, i_qty: int, has_event_type: bool, errors: list[RowError]
) -> bool:
    if not has_event_type:
        return cells[i_qty].strip().startswith("-")
    event = cells[i_event].strip().lower()
    if event == "refund":
        return True
    if event != "payment":
        errors.append(row_error(row, EVENT_TYPE, cells[i_event], "unknown Event Type (expected Payment or Refund)"))
    return False


class _LineValues:
    """Qty, Gross Sales, Discounts, Net Sales (and whether it is a refund) → the line's quantity, unit price,
    discount and refunded amount, or the list of (column, value, reason) problems. Cached: a shop sells the
    same items at the same prices all day."""

    def __init__(self, currency: str, has_discounts: bool):
        self.money = MoneyReader(currency)
        self.quantities = DecimalReader(limit=QUANTITY_MAX, what="quantity")
        self.has_discounts = has_discounts
        self.cache: dict[tuple, tuple | list] = {}
        self.taxes: dict[str, Decimal] = {"": ZERO}

    def read(self, key: tuple[str, str, str, str, bool]) -> tuple | list:
        quantity_text, gross_text, discounts_text, net_text, refund = key
        problems: list[tuple[str, str, str]] = []
        quantity = None
        try:
            quantity = self.quantities(quantity_text)
        except ValueError as exc:
            problems.append((QTY, quantity_text, str(exc) if quantity_text.strip() else "a value is required"))
        amounts = []
        for column, text in ((GROSS_SALES, gross_text), (DISCOUNTS, discounts_text), (NET_SALES, net_text)):
            if not text.strip():
                if column != DISCOUNTS:
                    problems.append((column, text, "a value is required"))
                amounts.append(ZERO)
                continue
            try:
                amounts.append(self.money(text))
            except ValueError as exc:
                problems.append((column, text, str(exc)))
                amounts.append(ZERO)
        gross, discounts, net = amounts
        result: tuple | list
        if quantity is not None and not problems:
            if refund:
                returned = -abs(quantity)
                gross_back, net_back = abs(gross), abs(net)
                discount = gross_back - net_back
                unit_price = _unit_price(gross_back, -returned) if returned else ZERO
                result = (returned, unit_price, discount if discount > 0 else ZERO, net_back)
            elif quantity <= 0:
                problems.append((QTY, quantity_text, "a sold quantity must be more than 0"))
            elif gross < 0:
                problems.append((GROSS_SALES, gross_text, "a sale's gross sales cannot be negative"))
            else:
                discount = abs(discounts) if self.has_discounts else gross - net
                result = (quantity, _unit_price(gross, quantity), discount if discount > 0 else ZERO, None)
        if problems:
            result = problems
        if len(self.cache) >= _CACHE_MAX:
            self.cache.clear()
        self.cache[key] = result
        return result

    def tax(self, text: str, row: int, errors: list[RowError]) -> Decimal:
        if not text.strip():
            return ZERO
        try:
            value = self.money(text)
        except ValueError as exc:
            errors.append(row_error(row, TAX, text, str(exc)))
            return ZERO
        if len(self.taxes) >= _CACHE_MAX:
            self.taxes.clear()
            self.taxes[""] = ZERO
        self.taxes[text] = value
        return value


class _Products:
    """SKU, Item, Price Point Name, Category → (sku, name, category), or (None, column, value, reason)."""

    def __init__(self):
        self.cache: dict[tuple[str, str, str, str], tuple] = {}

    def read(self, key: tuple[str, str, str, str]) -> tuple:
        sku, item, price_point, category = (part.strip() for part in key)
        if not sku and not item:
            result: tuple = (None, ITEM, "", "an item needs an SKU or a name")
        elif len(sku) > SKU_MAX_LENGTH:
            result = (None, SKU, sku, f"an SKU has at most {SKU_MAX_LENGTH} characters")
        else:
            name = f"{item} ({price_point})" if item and price_point else item or sku
            result = (
                sku or derive_sku(SKU_PREFIX, item, price_point),
                name[:PRODUCT_NAME_MAX_LENGTH],
                category[:CATEGORY_MAX_LENGTH],
            )
        if len(self.cache) >= _CACHE_MAX:
            self.cache.clear()
        self.cache[key] = result
        return result


def _unit_price(gross: Decimal, quantity: Decimal) -> Decimal:
    if quantity == 1:
        return gross
    price = gross / quantity
    # An exact quotient stays exact; a repeating one (10.00 / 3) keeps 4 places, which the line gross rounds
    # back to the cent.
    return price if price.as_tuple().exponent >= -4 else price.quantize(Decimal("0.0001"))  # type: ignore[operator]


def _start_order(
    current: _Order,
    row: int,
    cells: list[str],
    moment: datetime | None,
    currency: str,
    recent: RecentOrderIds,
    i_location: int,
    i_channel: int,
    errors: list[RowError],
) -> None:
    txn, refund = current.key
    if not txn:
        errors.append(row_error(row, TRANSACTION_ID, "", "a value is required: every row names its transaction"))
        return
    external_id = txn + REFUND_SUFFIX if refund else txn
    if len(external_id) > EXTERNAL_ID_MAX_LENGTH:
        errors.append(row_error(row, TRANSACTION_ID, txn, "a transaction id has at most 120 characters"))
        return
    first_row = recent.first_row(external_id, row)
    if first_row is not None:
        errors.append(duplicate_order_error(row, TRANSACTION_ID, external_id, first_row))
        return
    location = cells[i_location].strip()
    online = "online" in cells[i_channel].lower()
    if not online and not location:
        errors.append(row_error(row, LOCATION, "", "an in-store sale needs its Location (the store)"))
        return
    current.order = OrderInput(
        source=SOURCE,
        external_id=external_id,
        channel="online" if online else "offline",
        placed_at=moment,  # type: ignore[arg-type]
        currency=currency,
        store=location or None,
        ref=f"row {row}",
    )


def _add_customer(order: OrderInput, ref: str, customer_id: str, reference_id: str, customer_name: str) -> bool:
    """Square repeats the customer on every row of a sale: take each identifier once, from the first row that
    has it. Returns whether something is still missing (later rows are then looked at too)."""
    kinds = {identifier.kind for identifier in order.identifiers}
    for value, kind in ((customer_id, "pos_customer"), (reference_id, "loyalty")):
        value = value.strip()
        if value and kind not in kinds:
            order.identifiers.append(IdentifierInput(kind=kind, value=value, ref=ref))
            kinds.add(kind)
    if not order.customer_name:
        order.customer_name = customer_name.strip()[:CUSTOMER_NAME_MAX_LENGTH]
    return len(kinds) < 2 or not order.customer_name
