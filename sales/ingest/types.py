"""The normalised shape every way in (API batches, Shopify, Square, generic files, seed data) produces.

Parsers and the API turn their input into ``OrderInput`` objects; ``sales.ingest.service.orders_ingest``
validates them against the merchant's data (stores, currency), resolves products and customers, and writes
them. Money is ``Decimal``; datetimes are timezone-aware.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

ZERO = Decimal("0")


@dataclass(slots=True)
class LineInput:
    sku: str  # as given; empty only for an order-level return without item detail
    quantity: Decimal  # > 0 for a sale, <= 0 for a return
    unit_price: Decimal  # >= 0
    discount: Decimal = ZERO  # >= 0, on this line
    kind: str = "sale"  # "sale" | "return"
    name: str = ""  # product name, used when the SKU is new (placeholder product)
    category: str = ""  # category name, for placeholder products
    occurred_at: datetime | None = None  # returns: when the refund happened (default: the order's placed_at)
    amount: Decimal | None = None  # returns without item detail: the value given back (positive number)
    ref: str = ""  # where it came from, for errors: "row 12", "orders[3].lines[1]"


@dataclass(slots=True)
class IdentifierInput:
    kind: str  # sales.models.IdentifierKind
    value: str  # raw; normalised and hashed by the ingest service
    ref: str = ""


@dataclass(slots=True)
class OrderInput:
    source: str
    external_id: str
    channel: str  # "online" | "offline"
    placed_at: datetime  # aware
    currency: str
    store: str | None = None  # a store code or, for files, the store's name as the source calls it
    status: str = "completed"  # sales.models.OrderStatus
    lines: list[LineInput] = field(default_factory=list)
    order_discount: Decimal = ZERO  # discount not already on the lines
    tax: Decimal = ZERO
    shipping: Decimal = ZERO
    identifiers: list[IdentifierInput] = field(default_factory=list)
    customer_name: str = ""
    customer_email: str = ""  # raw, kept only for display where the merchant stores it
    ref: str = ""  # "rows 12-14", "orders[3]"


@dataclass(slots=True)
class RowError:
    """One problem with the input: where (row or JSON path, column/field), the value, and why."""

    ref: str  # "row 12" / "orders[3].lines[0].quantity"
    column: str
    value: str
    reason: str
    row: int | None = None  # 1-based file line number (header = 1), when it came from a file


@dataclass(slots=True)
class OrderOutcome:
    ref: str
    external_id: str
    result: str  # "created" | "updated" | "unchanged" | "error"
    errors: list[RowError] = field(default_factory=list)
    order_id: int | None = None
