"""Shopify's "Export orders" CSV (``../shared/formats/shopify-orders.md``) → ``OrderInput``.

One row per line item; the rows of an order are consecutive and share ``Name``; order-level columns are read
from the order's first row. Columns are matched by name (case-insensitive), unknown ones are ignored.

- external id: ``Id`` when the column exists and is filled, else ``Name``; source ``shopify``.
- channel: ``Source`` ``pos`` → offline at the store named by ``Location`` (required then); anything else →
  online, with ``Location`` (when set) passed on as the fulfilling store.
- status: ``Cancelled at`` set, or ``Financial Status`` voided/expired → cancelled; pending/authorized →
  pending; anything else → completed.
- lines: ``Lineitem sku`` (an empty SKU becomes ``SHOPIFY-<NAME-SLUG>``, stable), ``Lineitem quantity`` (> 0),
  ``Lineitem price`` (unit price), ``Lineitem discount`` (on the line).
- ``Discount Amount`` already includes the line discounts: order_discount = Discount Amount − Σ line discounts
  (not below 0). ``Taxes``, ``Shipping`` as given.
- ``Refunded Amount`` > 0 → one return line without item detail (sku "", amount = the refund) dated at the
  order's ``Created at`` (the export has no refund date). The amount is capped at the order's merchandise value
  (Σ price × quantity − discounts): Shopify's figure includes refunded tax and shipping, which sales exclude.
- customer: ``Email`` (e-mail), ``Phone`` and ``Billing Phone`` (phones), name from ``Billing Name``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal

from sales.ingest.types import ZERO, IdentifierInput, LineInput, OrderInput, RowError

from .base import (
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
    parse_aware_datetime,
    row_error,
    rows_ref,
)
from .money import QUANTITY_MAX, DecimalReader

SOURCE = "shopify"
SKU_PREFIX = "SHOPIFY-"

NAME = "Name"
EMAIL = "Email"
FINANCIAL_STATUS = "Financial Status"
CURRENCY = "Currency"
SHIPPING = "Shipping"
TAXES = "Taxes"
DISCOUNT_AMOUNT = "Discount Amount"
CREATED_AT = "Created at"
QUANTITY = "Lineitem quantity"
ITEM_NAME = "Lineitem name"
PRICE = "Lineitem price"
SKU = "Lineitem sku"
LINE_DISCOUNT = "Lineitem discount"
BILLING_NAME = "Billing Name"
BILLING_PHONE = "Billing Phone"
CANCELLED_AT = "Cancelled at"
REFUNDED_AMOUNT = "Refunded Amount"
LOCATION = "Location"
ORDER_ID = "Id"
SOURCE_COLUMN = "Source"
PHONE = "Phone"

REQUIRED_COLUMNS = (NAME, CREATED_AT, CURRENCY, QUANTITY, ITEM_NAME, PRICE)
EMAIL_KIND = "email"
PHONE_KIND = "phone"
fromisoformat = datetime.fromisoformat
CANCELLED_STATUSES = frozenset({"voided", "expired"})
PENDING_STATUSES = frozenset({"pending", "authorized"})


class _Order:
    """The order being assembled from consecutive rows with the same Name."""

    __slots__ = (
        "errors",
        "first_row",
        "last_row",
        "line_discounts",
        "lines",
        "name",
        "order",
        "order_discount",
        "orphan_rows",
        "refunded",
    )

    def __init__(self, name: str, row: int):
        self.name = name
        self.first_row = self.last_row = row
        self.order: OrderInput | None = None
        self.lines: list[LineInput] = []
        self.errors: list[RowError] = []
        self.orphan_rows: list[int] = []  # unreadable rows that may belong to this order
        self.line_discounts = ZERO
        self.order_discount = ZERO  # Discount Amount, total
        self.refunded = ZERO

    def finish(self) -> list[OrderInput | RowError]:
        if self.errors:
            if len(self.orphan_rows) == len(self.errors):  # only unreadable neighbours: say why it is left out
                rows = ", ".join(str(row) for row in self.orphan_rows)
                self.errors.insert(
                    0,
                    row_error(
                        self.first_row,
                        NAME,
                        self.name,
                        f"order {self.name} not imported: row {rows} next to it could not be read and may belong to it",
                    ),
                )
            return self.errors  # type: ignore[return-value]
        order = self.order
        if order is None:  # pragma: no cover - an order without errors always has its head
            return []
        discount = self.order_discount - self.line_discounts
        order.order_discount = discount if discount > 0 else ZERO
        order.ref = rows_ref(self.first_row, self.last_row)
        if self.refunded > 0:
            # Refunded Amount is the money given back, tax and shipping included when they were refunded too;
            # sales figures exclude both, so a refund counts at most the order's merchandise value.
            merchandise = sum(line.unit_price * line.quantity for line in self.lines) - self.line_discounts
            merchandise -= order.order_discount
            refunded = min(self.refunded, merchandise) if merchandise > 0 else ZERO
            self.lines.append(
                LineInput(
                    sku="",
                    quantity=ZERO,
                    unit_price=ZERO,
                    kind="return",
                    name="Refund",
                    occurred_at=order.placed_at,
                    amount=refunded,
                    ref=f"row {self.first_row}",
                )
            )
        return [order]


def read_orders(rows: CsvRows, header: Header, context: Context) -> Iterator[OrderInput | RowError]:
    position = header.index
    width = len(header)
    i_name, i_quantity, i_price, i_item = position(NAME), position(QUANTITY), position(PRICE), position(ITEM_NAME)
    i_sku, i_discount = position(SKU), position(LINE_DISCOUNT)
    line_reader = _LineReader(i_quantity, i_price, i_discount, i_item, i_sku)
    # Valid values seen before, by cell text: the fast path is three dict lookups (prices repeat a lot).
    quantities, prices, discounts = line_reader.quantities, line_reader.prices, line_reader.discounts
    head = _OrderHead(header, line_reader.money)
    recent = RecentOrderIds()
    current: _Order | None = None
    current_name: str | None = None  # the Name cell as written on the current order's rows

    for row, cells, error in rows:
        if error is not None or len(cells) != width:  # type: ignore[arg-type]
            if error is None:
                if is_blank(cells):  # type: ignore[arg-type]
                    continue
                error = length_error(row, cells, width)  # type: ignore[arg-type]
                if error is None:
                    cells = cells[:width]  # type: ignore[index]
            if error is not None:
                key = cells[i_name].strip() if cells is not None and i_name < len(cells) else ""
                if key and key != (current.name if current is not None else ""):
                    # The broken row starts another order: that order is left out, with this error.
                    if current is not None:
                        yield from current.finish()
                    current = _Order(key, row)
                    current_name = cells[i_name]  # type: ignore[index]
                    current.errors.append(error)
                elif current is None:
                    yield error
                else:
                    current.errors.append(error)
                    current.last_row = row
                    if cells is None:
                        current.orphan_rows.append(row)
                continue

        name = cells[i_name]
        if name == current_name:
            current.last_row = row  # type: ignore[union-attr]
        elif current is not None and name.strip() == current.name:
            current.last_row = row
            current_name = name
        elif not name.strip() and is_blank(cells):
            continue
        else:
            if current is not None:
                yield from current.finish()
            current = _Order(name.strip(), row)
            current_name = name
            head.read(current, row, cells, recent)

        # The line item, on every row of the order.
        quantity = quantities.get(cells[i_quantity])
        price = prices.get(cells[i_price])
        discount = discounts.get(cells[i_discount]) if i_discount >= 0 else ZERO
        sku = cells[i_sku] if i_sku >= 0 else ""
        if quantity is None or price is None or discount is None or not sku or current.errors:  # type: ignore[union-attr]
            line_reader.slow(current, row, cells)  # type: ignore[arg-type]
            continue
        if len(sku) > SKU_MAX_LENGTH or sku[0] == " " or sku[-1] == " ":
            line_reader.slow(current, row, cells)  # type: ignore[arg-type]
            continue
        current.line_discounts += discount  # type: ignore[union-attr]
        current.lines.append(  # type: ignore[union-attr]
            LineInput(
                sku,
                quantity,
                price,
                discount,
                "sale",
                cells[i_item].strip()[:PRODUCT_NAME_MAX_LENGTH],
                "",
                None,
                None,
                f"row {row}",
            )
        )
    if current is not None:
        yield from current.finish()


class _LineReader:
    """Line items off the fast path: first sight of a value, empty SKU, errors. Fills the fast path's caches."""

    def __init__(self, i_quantity: int, i_price: int, i_discount: int, i_item: int, i_sku: int):
        self.i_quantity, self.i_price, self.i_discount, self.i_item, self.i_sku = (
            i_quantity,
            i_price,
            i_discount,
            i_item,
            i_sku,
        )
        self.money = DecimalReader()
        self.quantity_reader = DecimalReader(limit=QUANTITY_MAX, what="quantity")
        self.quantities: dict[str, Decimal] = {}  # sold quantities (> 0)
        self.prices: dict[str, Decimal] = {}  # prices (>= 0)
        self.discounts: dict[str, Decimal] = {"": ZERO}  # line discounts (>= 0, empty = 0)
        self.derived_skus: dict[str, str] = {}

    def _remember(self, cache: dict[str, Decimal], text: str, value: Decimal) -> None:
        if len(cache) >= 20_000:
            cache.clear()
            if cache is self.discounts:
                cache[""] = ZERO
        cache[text] = value

    def slow(self, current: _Order, row: int, cells: list[str]) -> None:
        errors = current.errors
        text = cells[self.i_quantity]
        quantity = price = None
        try:
            quantity = self.quantity_reader(text)
        except ValueError as exc:
            errors.append(row_error(row, QUANTITY, text, _reason(exc, text)))
        else:
            if quantity <= 0:
                errors.append(row_error(row, QUANTITY, text, "a sold quantity must be more than 0"))
            else:
                self._remember(self.quantities, text, quantity)
        text = cells[self.i_price]
        try:
            price = self.money(text)
        except ValueError as exc:
            errors.append(row_error(row, PRICE, text, _reason(exc, text)))
        else:
            if price < 0:
                errors.append(row_error(row, PRICE, text, "a price cannot be negative"))
            else:
                self._remember(self.prices, text, price)
        discount = ZERO
        if self.i_discount >= 0 and cells[self.i_discount].strip():
            text = cells[self.i_discount]
            try:
                discount = self.money(text)
            except ValueError as exc:
                errors.append(row_error(row, LINE_DISCOUNT, text, str(exc)))
            else:
                if discount < 0:
                    errors.append(row_error(row, LINE_DISCOUNT, text, "a discount cannot be negative"))
                else:
                    self._remember(self.discounts, text, discount)
        item_name = cells[self.i_item].strip()
        sku = cells[self.i_sku].strip() if self.i_sku >= 0 else ""
        if not sku:
            if item_name:
                sku = self.derived_skus.get(item_name) or self._derive(item_name)
            else:
                errors.append(row_error(row, SKU, "", "a line item needs a Lineitem sku or a Lineitem name"))
        elif len(sku) > SKU_MAX_LENGTH:
            errors.append(row_error(row, SKU, sku, f"an SKU has at most {SKU_MAX_LENGTH} characters"))
        if errors:  # the order is left out whole (with its errors)
            return
        current.line_discounts += discount
        current.lines.append(
            LineInput(
                sku=sku,
                quantity=quantity,  # type: ignore[arg-type]
                unit_price=price,  # type: ignore[arg-type]
                discount=discount,
                name=item_name[:PRODUCT_NAME_MAX_LENGTH],
                ref=f"row {row}",
            )
        )

    def _derive(self, item_name: str) -> str:
        if len(self.derived_skus) >= 10_000:
            self.derived_skus.clear()
        sku = self.derived_skus[item_name] = derive_sku(SKU_PREFIX, item_name)
        return sku


def _reason(exc: ValueError, text: str) -> str:
    return "a value is required" if not text.strip() else str(exc)


class _OrderHead:
    """Reads the order-level columns of an order's first row (``read`` is a closure: locals are faster than
    attributes, and this runs once per order)."""

    def __init__(self, header: Header, money: DecimalReader):
        width = len(header)

        def position(name: str) -> int:  # a missing column reads as the empty cell appended at ``width``
            index = header.index(name)
            return index if index >= 0 else width

        self.money = money
        self.amounts: dict[str, Decimal] = {"": ZERO}  # valid amounts (>= 0) by cell text
        self.currencies: dict[str, str] = {}  # valid codes by cell text
        self.read = self._reader(
            position(ORDER_ID),
            position(CREATED_AT),
            position(CURRENCY),
            position(FINANCIAL_STATUS),
            position(CANCELLED_AT),
            position(SOURCE_COLUMN),
            position(LOCATION),
            position(EMAIL),
            position(PHONE),
            position(BILLING_PHONE),
            position(BILLING_NAME),
            position(TAXES),
            position(SHIPPING),
            position(DISCOUNT_AMOUNT),
            position(REFUNDED_AMOUNT),
        )

    def _reader(
        self,
        i_id: int,
        i_created: int,
        i_currency: int,
        i_financial: int,
        i_cancelled: int,
        i_source: int,
        i_location: int,
        i_email: int,
        i_phone: int,
        i_billing_phone: int,
        i_billing_name: int,
        i_taxes: int,
        i_shipping: int,
        i_discount: int,
        i_refunded: int,
    ):
        amounts = self.amounts
        currencies = self.currencies
        read_amount = self._amount
        read_currency = self._currency

        def read(current: _Order, row: int, cells: list[str], recent: RecentOrderIds) -> None:
            cells.append("")  # what the missing columns read
            errors = current.errors
            name = current.name
            if not name:
                errors.append(row_error(row, NAME, "", "a value is required: every row names its order"))
                return
            external_id = cells[i_id].strip() or name
            if len(external_id) > EXTERNAL_ID_MAX_LENGTH:
                column = ORDER_ID if cells[i_id].strip() else NAME
                errors.append(row_error(row, column, external_id, "an order id has at most 128 characters"))
            first_row = recent.first_row(external_id, row)
            if first_row is not None:  # a later part of an earlier order: that is the one thing to say
                errors.append(duplicate_order_error(row, NAME, name, first_row))
                return

            created = cells[i_created]
            placed_at = None
            try:
                if len(created) == 25 and created[19] == " ":  # "2026-09-03 10:14:00 -0400", Shopify's own form
                    placed_at = fromisoformat(created[:19] + created[20:])
                else:
                    placed_at = parse_aware_datetime(created)
            except ValueError as exc:
                reason = "a value is required on the first row of an order" if not created.strip() else str(exc)
                errors.append(row_error(row, CREATED_AT, created, reason))

            currency = currencies.get(cells[i_currency]) or read_currency(cells[i_currency], row, errors)

            financial = cells[i_financial]
            if financial:
                financial = financial.strip().lower()
            if financial in CANCELLED_STATUSES or cells[i_cancelled].strip():
                status = "cancelled"
            elif financial in PENDING_STATUSES:
                status = "pending"
            else:
                status = "completed"

            location = cells[i_location]
            if location:
                location = location.strip()
            if cells[i_source].strip().lower() == "pos":
                channel = "offline"
                if not location:
                    errors.append(
                        row_error(row, LOCATION, "", "a Shopify POS order (Source pos) needs its Location (the store)")
                    )
            else:
                channel = "online"

            text = cells[i_taxes]
            tax = amounts.get(text)
            if tax is None:
                tax = read_amount(TAXES, text, row, errors)
            text = cells[i_shipping]
            shipping = amounts.get(text)
            if shipping is None:
                shipping = read_amount(SHIPPING, text, row, errors)
            text = cells[i_discount]
            discount = amounts.get(text)
            if discount is None:
                discount = read_amount(DISCOUNT_AMOUNT, text, row, errors)
            text = cells[i_refunded]
            refunded = amounts.get(text)
            if refunded is None:
                refunded = read_amount(REFUNDED_AMOUNT, text, row, errors)
            if errors:
                return

            ref = f"row {row}"
            identifiers: list[IdentifierInput] = []
            email = cells[i_email]
            if email:
                email = email.strip()
                identifiers.append(IdentifierInput(EMAIL_KIND, email, ref))
            phone = cells[i_phone]
            if phone:
                phone = phone.strip()
                identifiers.append(IdentifierInput(PHONE_KIND, phone, ref))
            billing_phone = cells[i_billing_phone]
            if billing_phone:
                billing_phone = billing_phone.strip()
                if billing_phone != phone:
                    identifiers.append(IdentifierInput(PHONE_KIND, billing_phone, ref))
            customer_name = cells[i_billing_name]
            if customer_name:
                customer_name = customer_name.strip()[:CUSTOMER_NAME_MAX_LENGTH]

            # Positional: this runs once per order on the import's hot path (keywords cost twice as much).
            # Field order of sales.ingest.types.OrderInput; tests/sales/test_parsers_shopify.py pins it.
            current.order = OrderInput(
                SOURCE,
                external_id,
                channel,
                placed_at,  # type: ignore[arg-type]
                currency,
                location or None,
                status,
                current.lines,
                ZERO,
                tax,
                shipping,
                identifiers,
                customer_name,
                email,
                ref,
            )
            current.order_discount = discount
            current.refunded = refunded

        return read

    def _currency(self, text: str, row: int, errors: list[RowError]) -> str:
        code = text.strip().upper()
        if len(code) == 3 and code.isascii() and code.isalpha():
            self.currencies[text] = code
            return code
        reason = (
            "not a currency code (expected three letters, like EUR)"
            if code
            else "a currency code is required on the first row of an order (like EUR)"
        )
        errors.append(row_error(row, CURRENCY, text, reason))
        return ""

    def _amount(self, column: str, text: str, row: int, errors: list[RowError]) -> Decimal:
        if not text.strip():
            return ZERO
        try:
            value = self.money(text)
        except ValueError as exc:
            errors.append(row_error(row, column, text, str(exc)))
            return ZERO
        if value < 0:
            errors.append(row_error(row, column, text, "cannot be negative"))
            return ZERO
        if len(self.amounts) >= 20_000:
            self.amounts.clear()
            self.amounts[""] = ZERO
        self.amounts[text] = value
        return value
