"""Builders of normalised input (``sales.ingest.types``) for the ingestion service's tests."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sales.ingest.types import IdentifierInput, LineInput, OrderInput

PLACED_AT = datetime.fromisoformat("2024-05-14T10:30:00+00:00")


def line(sku: str = "TEE-1", quantity: str = "1", unit_price: str = "20.00", **fields) -> LineInput:
    return LineInput(sku=sku, quantity=Decimal(quantity), unit_price=Decimal(unit_price), **fields)


def refund(amount: str, occurred_at: datetime | None = None, **fields) -> LineInput:
    """An order-level refund without item detail: a return line without SKU."""
    return LineInput(
        sku="", quantity=Decimal("0"), unit_price=Decimal("0"), kind="return", amount=Decimal(amount),
        occurred_at=occurred_at, **fields,
    )  # fmt: skip


def email(value: str) -> IdentifierInput:
    return IdentifierInput(kind="email", value=value)


def phone(value: str) -> IdentifierInput:
    return IdentifierInput(kind="phone", value=value)


def order(external_id: str = "1001", *, lines: list[LineInput] | None = None, **fields) -> OrderInput:
    values = {
        "source": "api",
        "external_id": external_id,
        "channel": "online",
        "placed_at": PLACED_AT,
        "currency": "EUR",
        "lines": [line()] if lines is None else lines,
        "ref": f"orders[{external_id}]",
    }
    values.update(fields)
    return OrderInput(**values)


def offline(external_id: str = "2001", store: str = "PAR-01", **fields) -> OrderInput:
    return order(external_id, channel="offline", store=store, **fields)
