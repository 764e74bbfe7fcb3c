from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from merchants.services import merchant_update
from sales.ingest.service import orders_ingest
from sales.ingest.types import LineInput, OrderInput

pytestmark = pytest.mark.django_db


def test_currency_changes_freely_before_any_sale(merchant):
    merchant_update(merchant=merchant, actor=None, currency="GBP")
    merchant.refresh_from_db()
    assert merchant.currency == "GBP"


def test_currency_is_locked_once_the_merchant_has_sales(merchant):
    # Given one online order in EUR
    order = OrderInput(
        source="api",
        external_id="A-1",
        channel="online",
        placed_at=datetime(2026, 5, 1, 10, tzinfo=UTC),
        currency="EUR",
        lines=[LineInput(sku="SKU-1", quantity=Decimal(1), unit_price=Decimal("10.00"))],
    )
    assert orders_ingest(merchant=merchant, orders=[order])[0].result == "created"

    # When the currency is changed, then it is refused and nothing changes
    with pytest.raises(ValidationError, match="can no longer change"):
        merchant_update(merchant=merchant, actor=None, currency="USD")
    merchant.refresh_from_db()
    assert merchant.currency == "EUR"
    # other fields still change
    merchant_update(merchant=merchant, actor=None, name="Renamed", currency="EUR")
    merchant.refresh_from_db()
    assert merchant.name == "Renamed"
