"""NewRetail's own formats, generic CSV and JSON lines (documented in ``docs/formats/generic.md``).

CSV: one row per line item; the rows of an order are consecutive and share ``order_id``; order-level columns
are read from the order's first row (later rows may leave them empty or repeat the same value). JSON lines:
one order per line, with ``lines`` and ``customer`` nested. Validation is strict: unknown columns/fields,
missing required values, bad numbers, naive datetimes are all errors naming the column or field.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

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
    TextStream,
    duplicate_order_error,
    is_blank,
    length_error,
    not_utf8_reason,
    parse_aware_datetime,
    row_error,
    rows_ref,
    undecodable_byte,
)
from .money import MONEY_MAX, QUANTITY_MAX, parse_decimal

CSV_SOURCE = "csv"
JSONL_SOURCE = "jsonl"
STORE_MAX_LENGTH = 150
EMAIL_MAX_LENGTH = 254
IDENTIFIER_MAX_LENGTH = 128
SOURCE_MAX_LENGTH = 32
JSON_LINE_MAX_CHARACTERS = 1024 * 1024

CHANNELS = ("online", "offline")
STATUSES = ("completed", "pending", "cancelled")
KINDS = ("sale", "return")

# Order-level CSV columns (and JSON fields, minus the "customer_" prefix inside "customer").
ORDER_COLUMNS = (
    "order_id",
    "placed_at",
    "channel",
    "store",
    "currency",
    "status",
    "source",
    "order_discount",
    "tax",
    "shipping",
    "customer_email",
    "customer_phone",
    "loyalty_number",
    "pos_customer_id",
    "account_id",
    "customer_name",
)
LINE_COLUMNS = (
    "kind",
    "sku",
    "product_name",
    "category",
    "quantity",
    "unit_price",
    "line_discount",
    "returned_at",
)
CSV_COLUMNS = ORDER_COLUMNS + LINE_COLUMNS
REQUIRED_COLUMNS = ("order_id", "placed_at", "channel", "sku", "quantity", "unit_price")

# customer.<field> in JSON -> CSV column, identifier kind (None: not an identifier)
CUSTOMER_FIELDS: dict[str, tuple[str, str | None]] = {
    "email": ("customer_email", "email"),
    "phone": ("customer_phone", "phone"),
    "loyalty_number": ("loyalty_number", "loyalty"),
    "pos_customer_id": ("pos_customer_id", "pos_customer"),
    "account_id": ("account_id", "account"),
    "name": ("customer_name", None),
}
JSON_ORDER_FIELDS = tuple(name for name in ORDER_COLUMNS if name not in {c for c, _ in CUSTOMER_FIELDS.values()})
# The API's spellings (POST /api/v1/orders/batch/) are accepted too, so an API order object is a valid line.
JSON_ALIASES = {"external_id": "order_id", "name": "product_name", "discount": "line_discount"}


class _Invalid(Exception):
    def __init__(self, reason: str):
        self.reason = reason


# --- value readers: raw value (CSV text or JSON value) -> Python value, or _Invalid(reason) ------------------


def _text(value: Any, max_length: int) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise _Invalid("expected text")
    text = str(value).strip()
    if len(text) > max_length:
        raise _Invalid(f"at most {max_length} characters")
    return text


def _number(value: Any, *, limit: Decimal, what: str) -> Decimal:
    if isinstance(value, bool):
        raise _Invalid("not a number (write it like 12.50)")
    if isinstance(value, int | Decimal):
        number = Decimal(value)
        if not number.is_finite() or abs(number) > limit:
            raise _Invalid(f"{what} too large (at most {limit})")
        return number
    if not isinstance(value, str):
        raise _Invalid("not a number (write it like 12.50)")
    try:
        return parse_decimal(value, limit=limit, what=what)
    except ValueError as exc:
        raise _Invalid(str(exc)) from None


def _money(value: Any) -> Decimal:
    number = _number(value, limit=MONEY_MAX, what="amount")
    if number < 0:
        raise _Invalid("cannot be negative")
    return number


def _quantity(value: Any) -> Decimal:
    return _number(value, limit=QUANTITY_MAX, what="quantity")


def _choice(value: Any, choices: tuple[str, ...]) -> str:
    text = _text(value, 32).lower()
    if text not in choices:
        raise _Invalid(f"expected one of: {', '.join(choices)}")
    return text


def _datetime(value: Any) -> datetime:
    if not isinstance(value, str):
        raise _Invalid("expected a date and time as text, like 2026-03-14T15:02:00+01:00")
    try:
        return parse_aware_datetime(value)
    except ValueError as exc:
        raise _Invalid(str(exc)) from None


def _currency(value: Any) -> str:
    text = _text(value, 3).upper()
    if len(text) != 3 or not text.isalpha():
        raise _Invalid("not a currency code (expected three letters, like EUR)")
    return text


def _source(value: Any) -> str:
    text = _text(value, SOURCE_MAX_LENGTH).lower()
    if not all(char.isascii() and (char.isalnum() or char in "-_.") for char in text):
        raise _Invalid("letters, digits, '-', '_' and '.' only (like 'woocommerce')")
    return text


# --- building orders ---------------------------------------------------------------------------------


class _Fields:
    """Reads named values, collecting errors with the column label and the row."""

    def __init__(self, row: int, get: Callable[[str], Any], label: Callable[[str], str]):
        self.row = row
        self.get = get
        self.label = label
        self.errors: list[RowError] = []

    def read(self, name: str, reader: Callable[[Any], Any], *, required: bool = False, default: Any = None) -> Any:
        value = self.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.errors.append(row_error(self.row, self.label(name), "", "a value is required"))
            return default
        try:
            return reader(value)
        except _Invalid as exc:
            self.errors.append(row_error(self.row, self.label(name), _shown(value), exc.reason))
            return default

    def error(self, name: str, value: Any, reason: str) -> None:
        self.errors.append(row_error(self.row, self.label(name), _shown(value), reason))


def _shown(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)[:200]
    return str(value)


def _order_head(fields: _Fields, context: Context, default_source: str, customer: Callable[[str], str]):
    """The order-level values (without lines), or None when one is invalid (errors are in ``fields``)."""
    t = _text
    external_id = fields.read("order_id", lambda v: t(v, EXTERNAL_ID_MAX_LENGTH), required=True)
    placed_at = fields.read("placed_at", _datetime, required=True)
    channel = fields.read("channel", lambda v: _choice(v, CHANNELS), required=True)
    store = fields.read("store", lambda v: t(v, STORE_MAX_LENGTH), default="")
    if channel == "offline" and not store and fields.get("store") in (None, ""):
        fields.error("store", "", "an in-store (offline) order needs its store (code or name)")
    currency = fields.read("currency", _currency, default=context.currency)
    status = fields.read("status", lambda v: _choice(v, STATUSES), default="completed")
    source = fields.read("source", _source, default=default_source)
    order_discount = fields.read("order_discount", _money, default=ZERO)
    tax = fields.read("tax", _money, default=ZERO)
    shipping = fields.read("shipping", _money, default=ZERO)
    identifiers = []
    customer_name = ""
    customer_email = ""
    ref = f"row {fields.row}"
    for field, (_column, kind) in CUSTOMER_FIELDS.items():
        limit = {"email": EMAIL_MAX_LENGTH, "name": CUSTOMER_NAME_MAX_LENGTH}.get(field, IDENTIFIER_MAX_LENGTH)
        value = fields.read(customer(field), lambda v, limit=limit: t(v, limit), default="")
        if not value:
            continue
        if kind is None:
            customer_name = value
        else:
            identifiers.append(IdentifierInput(kind=kind, value=value, ref=ref))
            if kind == "email":
                customer_email = value
    if fields.errors:
        return None
    return OrderInput(
        source=source,
        external_id=external_id,
        channel=channel,
        placed_at=placed_at,
        currency=currency,
        store=store or None,
        status=status,
        order_discount=order_discount,
        tax=tax,
        shipping=shipping,
        identifiers=identifiers,
        customer_name=customer_name,
        customer_email=customer_email,
        ref=ref,
    )


def _line(fields: _Fields, ref: str, placed_at: datetime | None) -> LineInput | None:
    t = _text
    kind = fields.read("kind", lambda v: _choice(v, KINDS), default="sale")
    sku = fields.read("sku", lambda v: t(v, SKU_MAX_LENGTH), required=True)
    name = fields.read("product_name", lambda v: t(v, PRODUCT_NAME_MAX_LENGTH), default="")
    category = fields.read("category", lambda v: t(v, CATEGORY_MAX_LENGTH), default="")
    quantity = fields.read("quantity", _quantity, required=True)
    unit_price = fields.read("unit_price", _money, required=True)
    discount = fields.read("line_discount", _money, default=ZERO)
    returned_at = fields.read("returned_at", _datetime)
    if quantity is not None:
        if kind == "sale" and quantity <= 0:
            fields.error(
                "quantity",
                fields.get("quantity"),
                "a sold quantity must be more than 0 (a return is a row with kind 'return')",
            )
        if kind == "return":
            quantity = -abs(quantity)
    if kind == "sale" and returned_at is not None:
        fields.error("returned_at", fields.get("returned_at"), "only a return (kind 'return') has a returned_at")
    if (
        quantity is not None
        and unit_price is not None
        and discount
        and kind == "sale"
        and discount > unit_price * quantity
    ):
        fields.error("line_discount", fields.get("line_discount"), "the discount is larger than the line's amount")
    if fields.errors:
        return None
    return LineInput(
        sku=sku,
        quantity=quantity,
        unit_price=unit_price,
        discount=discount,
        kind=kind,
        name=name,
        category=category,
        occurred_at=(returned_at or placed_at) if kind == "return" else None,
        ref=ref,
    )


# --- generic CSV ----------------------------------------------------------------------------------------


class _CsvOrder:
    __slots__ = ("errors", "first_cells", "first_row", "key", "last_row", "order", "orphan_rows")

    def __init__(self, key: str, row: int, cells: list[str] | None):
        self.key = key
        self.first_row = self.last_row = row
        self.first_cells = cells
        self.order: OrderInput | None = None
        self.errors: list[RowError] = []
        self.orphan_rows: list[int] = []

    def finish(self) -> list[OrderInput | RowError]:
        if self.errors:
            if len(self.orphan_rows) == len(self.errors):
                rows = ", ".join(str(row) for row in self.orphan_rows)
                self.errors.insert(
                    0,
                    row_error(
                        self.first_row,
                        "order_id",
                        self.key,
                        f"order {self.key} not imported: row {rows} next to it could not be read and may belong to it",
                    ),
                )
            return self.errors  # type: ignore[return-value]
        if self.order is None:  # pragma: no cover
            return []
        self.order.ref = rows_ref(self.first_row, self.last_row)
        return [self.order]


def read_csv_orders(rows: CsvRows, header: Header, context: Context) -> Iterator[OrderInput | RowError]:
    width = len(header)
    position = {name: header.index(name) for name in CSV_COLUMNS}
    i_order = position["order_id"]
    order_positions = [(name, index) for name, index in position.items() if name in ORDER_COLUMNS and index >= 0]
    recent = RecentOrderIds()
    current: _CsvOrder | None = None

    def label(name: str) -> str:
        return name

    for row, cells, error in rows:
        if error is not None or len(cells) != width:  # type: ignore[arg-type]
            if error is None:
                if is_blank(cells):  # type: ignore[arg-type]
                    continue
                error = length_error(row, cells, width)  # type: ignore[arg-type]
                if error is None:
                    cells = cells[:width]  # type: ignore[index]
            if error is not None:
                key = cells[i_order].strip() if cells is not None and i_order < len(cells) else ""
                if key and key != (current.key if current is not None else ""):
                    # The broken row starts another order: that order is left out, with this error.
                    if current is not None:
                        yield from current.finish()
                    current = _CsvOrder(key, row, None)
                    current.errors.append(error)
                elif current is None:
                    yield error
                else:
                    current.errors.append(error)
                    current.last_row = row
                    if cells is None:
                        current.orphan_rows.append(row)
                continue

        def get(name: str, cells: list[str] = cells) -> str | None:  # type: ignore[assignment]
            index = position[name]
            return cells[index] if index >= 0 else None

        fields = _Fields(row, get, label)
        key = cells[i_order].strip()
        if not key:
            if is_blank(cells):
                continue
            # Most likely a later row of the current order written without its id: hold that order back too.
            error = row_error(row, "order_id", "", "a value is required on every row (an order's rows repeat it)")
            if current is None:
                yield error
            else:
                current.errors.append(error)
                current.last_row = row
            continue
        if current is None or key != current.key:
            if current is not None:
                yield from current.finish()
            current = _CsvOrder(key, row, cells)
            current.order = _order_head(fields, context, CSV_SOURCE, customer=lambda field: CUSTOMER_FIELDS[field][0])
            if current.order is not None:
                first_row = recent.first_row(current.order.external_id, row)
                if first_row is not None:
                    fields.errors.append(duplicate_order_error(row, "order_id", key, first_row))
        else:
            current.last_row = row
            first = current.first_cells
            for name, index in order_positions:
                value = cells[index].strip()
                if value and first is not None and value != first[index].strip():
                    fields.error(
                        name,
                        cells[index],
                        f"differs from the order's first row (row {current.first_row}: "
                        f"'{first[index].strip()[:40]}'); leave it empty or repeat the same value",
                    )
        placed_at = current.order.placed_at if current.order is not None else None
        line = _line(fields, f"row {row}", placed_at)
        if fields.errors:
            current.errors.extend(fields.errors)
            continue
        if current.order is not None and not current.errors:
            current.order.lines.append(line)  # type: ignore[arg-type]
    if current is not None:
        yield from current.finish()


# --- generic JSON lines ----------------------------------------------------------------------------------


class JsonLines:
    """The lines of a JSON lines file as ``(row, text, error)``; blank lines are skipped."""

    def __init__(self, stream: TextStream):
        self.stream = stream
        self.line = 0
        self.records = 0
        self._lines = self._generate()

    def __iter__(self) -> Iterator[tuple[int, str | None, RowError | None]]:
        return self._lines

    def _generate(self) -> Iterator[tuple[int, str | None, RowError | None]]:
        text = self.stream.text
        stream = self.stream
        while True:
            line = text.readline(JSON_LINE_MAX_CHARACTERS)
            if not line:
                return
            self.line += 1
            row = self.line
            if len(line) >= JSON_LINE_MAX_CHARACTERS and not line.endswith(("\n", "\r")):
                while True:  # skip the rest of the overlong line
                    rest = text.readline(JSON_LINE_MAX_CHARACTERS)
                    if not rest or rest.endswith(("\n", "\r")):
                        break
                self.records += 1
                yield row, None, row_error(row, "", line[:80], "the line is too long (over 1 MiB)")
                continue
            if not line.strip():
                continue
            self.records += 1
            if stream.needs_scan():
                byte = undecodable_byte(line)
                if byte is not None:
                    yield row, None, row_error(row, "", line, not_utf8_reason(byte))
                    continue
                if "\x00" in line:
                    yield row, None, row_error(row, "", line.replace("\x00", "\ufffd"), "contains binary data (NUL)")
                    continue
            yield row, line, None


def read_jsonl_orders(lines: JsonLines, context: Context) -> Iterator[OrderInput | RowError]:
    recent = RecentOrderIds()
    for row, text, error in lines:
        if error is not None:
            yield error
            continue
        text = text.rstrip("\r\n")  # type: ignore[union-attr]
        try:
            data = json.loads(text, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            reason = f"not valid JSON: {exc.msg} (at character {exc.pos + 1})"
            if row == 1 and not text.lstrip().startswith("{"):  # type: ignore[union-attr]
                reason = "not a JSON lines file: each line must be one JSON object (an order)"
            yield row_error(row, "", text.strip(), reason)  # type: ignore[union-attr]
            continue
        yield from _json_order(row, data, context, recent)


def _json_order(row: int, data: Any, context: Context, recent: RecentOrderIds) -> list[OrderInput | RowError]:
    if not isinstance(data, dict):
        return [row_error(row, "", _shown(data), "each line must be one JSON object (an order)")]
    errors: list[RowError] = []
    data = _resolve_aliases(row, "", data, errors)
    customer = data.get("customer")
    if customer is None:
        customer = {}
    elif not isinstance(customer, dict):
        errors.append(row_error(row, "customer", _shown(customer), "expected an object"))
        customer = {}
    lines = data.get("lines")
    known = set(JSON_ORDER_FIELDS) | {"customer", "lines"}
    for name in data:
        if name not in known:
            errors.append(row_error(row, name, _shown(data[name]), "unknown field"))
    for name in customer:
        if name not in CUSTOMER_FIELDS:
            errors.append(row_error(row, f"customer.{name}", _shown(customer[name]), "unknown field"))

    def get(name: str) -> Any:
        if name.startswith("customer."):
            return customer.get(name[len("customer.") :])
        return data.get(name)

    fields = _Fields(row, get, lambda name: name)
    order = _order_head(fields, context, JSONL_SOURCE, customer=lambda field: f"customer.{field}")
    errors.extend(fields.errors)
    if not isinstance(lines, list) or not lines:
        reason = "an order needs at least one line" if lines in (None, []) else "expected a list of lines"
        errors.append(row_error(row, "lines", _shown(lines) if lines is not None else "", reason))
        lines = []
    placed_at = order.placed_at if order is not None else None
    built: list[LineInput] = []
    for number, line in enumerate(lines):
        path = f"lines[{number}]"
        if not isinstance(line, dict):
            errors.append(row_error(row, path, _shown(line), "expected an object (a line item)"))
            continue
        line = _resolve_aliases(row, f"{path}.", line, errors)
        for name in line:
            if name not in LINE_COLUMNS:
                errors.append(row_error(row, f"{path}.{name}", _shown(line[name]), "unknown field"))
        line_fields = _Fields(row, line.get, lambda name, path=path: f"{path}.{name}")
        built_line = _line(line_fields, f"row {row}, {path}", placed_at)
        errors.extend(line_fields.errors)
        if built_line is not None:
            built.append(built_line)
    if order is not None and not errors:
        first_row = recent.first_row(order.external_id, row)
        if first_row is not None:
            errors.append(duplicate_order_error(row, "order_id", order.external_id, first_row))
    if errors or order is None:
        return errors  # type: ignore[return-value]
    order.lines = built
    return [order]


def _resolve_aliases(row: int, prefix: str, data: dict, errors: list[RowError]) -> dict:
    if not any(alias in data for alias in JSON_ALIASES):
        return data
    resolved = dict(data)
    for alias, name in JSON_ALIASES.items():
        if alias not in resolved:
            continue
        if prefix == "" and alias != "external_id":
            continue  # "name"/"discount" are line fields only
        if prefix != "" and alias == "external_id":
            continue
        if name in resolved:
            reason = f"give {name} or {alias}, not both"
            errors.append(row_error(row, f"{prefix}{alias}", _shown(resolved[alias]), reason))
        resolved[name] = resolved.pop(alias)
    return resolved
