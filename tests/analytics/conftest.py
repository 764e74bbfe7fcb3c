"""Fixtures of the analytics tests: a merchant with generated sales (see ``oracle.py``) and its rollups."""

from __future__ import annotations

from datetime import date

import pytest

from analytics.filters import Filters
from analytics.services import rollups_refresh

from .oracle import LAST_DAY, OrderGenerator, dataset_create, ingest


@pytest.fixture
def dataset(merchant):
    """Stores in three time zones, three categories (and an uncategorised product), orders from late January
    to mid April 2024 ingested in two batches with a refresh after each, as production does."""
    data = dataset_create(merchant)
    generator = OrderGenerator(data)
    ingest(merchant, generator.days(date(2024, 1, 20), date(2024, 2, 29)))
    rollups_refresh(merchant_id=merchant.pk)
    ingest(merchant, generator.days(date(2024, 3, 1), LAST_DAY))
    rollups_refresh(merchant_id=merchant.pk)
    data.generator = generator
    return data


def make_filters(merchant, date_from: date, date_to: date, **fields) -> Filters:
    return Filters(merchant_id=merchant.pk, date_from=date_from, date_to=date_to, **fields)
