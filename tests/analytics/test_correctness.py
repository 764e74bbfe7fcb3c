"""Selectors against the oracle (raw lines in Python), to the cent, for several filter combinations: after
incremental refreshes (including updates, cancellations, late refunds and customer merges) and after a rebuild."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core.management import call_command
from django.db.models import F

from analytics import selectors
from analytics.filters import Compare
from analytics.services import rollups_check, rollups_rebuild, rollups_refresh
from sales.models import CustomerMerge, Order, OrderLine

from . import oracle
from .conftest import make_filters
from .oracle import ingest, merge_orders

pytestmark = pytest.mark.django_db

# (case label, filter fields) — the store/category ones are resolved against the dataset.
CASES = [
    ("whole_range", dict(date_from=date(2024, 1, 20), date_to=date(2024, 4, 12))),
    ("dst_weeks_previous", dict(date_from=date(2024, 3, 25), date_to=date(2024, 4, 7))),
    ("month_edges_online", dict(date_from=date(2024, 2, 14), date_to=date(2024, 4, 3), channel="online")),
    ("offline_last_year_compare", dict(date_from=date(2024, 3, 1), date_to=date(2024, 3, 31), channel="offline",
                                       compare=Compare.LAST_YEAR)),
    ("one_store", dict(date_from=date(2024, 3, 1), date_to=date(2024, 4, 12), stores=("LON-01",))),
    ("manager_two_stores_category", dict(date_from=date(2024, 2, 1), date_to=date(2024, 4, 12),
                                         stores=("PAR-01", "NYC-01"), category="Shoes")),
    ("category_no_compare", dict(date_from=date(2024, 3, 10), date_to=date(2024, 3, 31), category="Tops",
                                 compare=Compare.NONE)),
    ("no_store_of_theirs", dict(date_from=date(2024, 3, 1), date_to=date(2024, 3, 31), stores=())),
    # Whole months and edge days of the tables without the store (category × month, store × month, hour × month).
    ("category_whole_months_online", dict(date_from=date(2024, 1, 22), date_to=date(2024, 4, 9), category="Shoes",
                                          channel="online")),
    ("whole_months_only", dict(date_from=date(2024, 2, 1), date_to=date(2024, 3, 31))),
]  # fmt: skip


def resolve(dataset, fields: dict):
    fields = dict(fields)
    if "stores" in fields:
        fields["store_ids"] = frozenset(dataset.stores[code].pk for code in fields.pop("stores"))
    if "category" in fields:
        fields["category_id"] = dataset.categories[fields.pop("category")].pk
    return make_filters(dataset.merchant, **fields)


def assert_matches_oracle(dataset, filters) -> None:
    entries = oracle.entries(dataset.merchant)
    assert selectors.summary(filters) == oracle.summary(entries, filters)
    assert selectors.stores(filters) == oracle.stores(entries, filters)
    assert selectors.products(filters, limit=None) == oracle.products(entries, filters)
    assert selectors.products(filters, limit=3, offset=2) == oracle.products(entries, filters)[2:5]
    assert selectors.categories(filters) == oracle.categories(entries, filters)
    assert selectors.hour_by_weekday(filters) == oracle.hour_by_weekday(entries, filters)
    assert selectors.customer_behaviour(filters) == oracle.customer_behaviour(entries, filters)
    for interval in ("day", "week", "month"):
        assert selectors.summary_rows(filters, interval=interval) == oracle.summary_rows(entries, filters, interval)
    for interval in ("day", "week", "month"):
        assert selectors.new_vs_returning(filters, interval=interval) == oracle.new_vs_returning(
            entries, filters, interval
        )
    for metric, interval, group_by in (
        ("net_sales", "day", "channel"),
        ("customers", "week", "store"),
        ("orders", "month", "category"),
        ("average_order_value", "week", None),
        ("units", "day", "store"),
        ("refunds", "month", "channel"),
    ):
        assert selectors.timeseries(filters, metric=metric, interval=interval, group_by=group_by) == (
            oracle.timeseries(entries, filters, metric, interval, group_by)
        ), (metric, interval, group_by)


@pytest.mark.parametrize(("_case", "fields"), CASES, ids=[case[0] for case in CASES])
def test_selectors_equal_the_oracle_after_incremental_refreshes(dataset, _case, fields):
    assert_matches_oracle(dataset, resolve(dataset, fields))


def test_the_dataset_has_the_edge_cases(dataset):
    """Guards the generator: the comparisons above mean something only if these are in the data."""
    entries = oracle.entries(dataset.merchant)
    kpis = oracle.kpis(entries, resolve(dataset, CASES[1][1]))  # late March: some customers are returning
    lines = OrderLine.objects.filter(merchant=dataset.merchant)
    assert kpis.refunds > 0
    assert kpis.omnichannel_customers > 0
    assert 0 < kpis.returning_customers < kpis.customers
    assert any(e.channel == "online" and e.store_id for e in entries)  # click-and-collect
    assert any(not e.line for e in entries)  # order-level discounts
    assert lines.filter(kind="return", product__isnull=True).exists()  # refunds without item detail
    assert lines.filter(kind="return").exclude(local_date=F("order__local_date")).exists()  # refunds on later days
    assert Order.objects.filter(merchant=dataset.merchant, status="cancelled").exists()
    # Local days that are not the UTC day (midnight in Paris, London and New York).
    assert any(order.placed_at.date() != order.local_date for order in Order.objects.filter(merchant=dataset.merchant))
    # Both DST changes are inside the data.
    assert lines.filter(local_date=date(2024, 3, 10)).exists()
    assert lines.filter(local_date=date(2024, 3, 31)).exists()


def test_updates_cancellations_refunds_and_merges_then_rebuild(dataset):
    merchant, generator = dataset.merchant, dataset.generator
    # Given: later changes — a merge of customers who bought on other days, an old order re-sent with a late
    # refund, another cancelled, and new orders on an old day.
    ingest(merchant, merge_orders(generator, date(2024, 4, 10)))
    assert CustomerMerge.objects.filter(merchant=merchant).count() == 2
    old = generator.order(date(2024, 2, 3), customer="c9")
    ingest(merchant, [old])
    rollups_refresh(merchant_id=merchant.pk)
    old.lines.append(
        type(old.lines[0])(
            sku=old.lines[0].sku, quantity=-old.lines[0].quantity, unit_price=old.lines[0].unit_price,
            kind="return", occurred_at=old.placed_at + timedelta(days=40),
        )
    )  # fmt: skip
    cancelled = generator.order(date(2024, 3, 30), customer="c5")
    ingest(merchant, [cancelled])
    rollups_refresh(merchant_id=merchant.pk)
    cancelled.status = "cancelled"
    ingest(merchant, [old, cancelled, *generator.days(date(2024, 3, 31), date(2024, 3, 31))])

    # When: the refresh runs
    result = rollups_refresh(merchant_id=merchant.pk)

    # Then: it rewrote the dirty days and those of the merged-away customers; everything equals the oracle
    assert date(2024, 3, 31) in result.days
    assert result.merged_customers >= 2
    assert rollups_check(merchant_id=merchant.pk) == []
    for _case, fields in CASES[:3] + CASES[5:6]:
        assert_matches_oracle(dataset, resolve(dataset, fields))

    # And after a rebuild from scratch
    rollups_rebuild(merchant_id=merchant.pk)
    assert rollups_check(merchant_id=merchant.pk) == []
    for _case, fields in CASES:
        assert_matches_oracle(dataset, resolve(dataset, fields))


def test_check_rollups_exits_zero_then_non_zero_after_corruption(dataset, capsys):
    call_command("check_rollups", "--merchant", dataset.merchant.slug)
    assert "agree" in capsys.readouterr().out

    from analytics.models import StoreDay

    row = StoreDay.objects.filter(merchant=dataset.merchant).order_by("local_date", "id").first()
    StoreDay.objects.filter(pk=row.pk).update(net=row.net + 1)
    with pytest.raises(SystemExit) as exit_info:
        call_command("check_rollups", "--merchant", dataset.merchant.slug)

    assert exit_info.value.code == 1
    out = capsys.readouterr().out
    assert "analytics_storeday: 1 missing, 1 unexpected" in out
    assert str(row.local_date) in out


def test_derived_tables_are_checked_and_rebuilt_alone(dataset, capsys):
    from analytics.models import CategoryMonth, ChannelDay

    # Given: derived rows gone or wrong
    ChannelDay.objects.filter(merchant=dataset.merchant).delete()
    row = CategoryMonth.objects.filter(merchant=dataset.merchant).order_by("month", "id").first()
    CategoryMonth.objects.filter(pk=row.pk).update(net=row.net + 1)
    with pytest.raises(SystemExit):
        call_command("check_rollups", "--merchant", dataset.merchant.slug)
    out = capsys.readouterr().out
    assert "analytics_channelday:" in out
    assert "analytics_categorymonth: 1 missing, 1 unexpected" in out

    # When: only those tables are recomputed from the rollups they sum
    call_command("rebuild_rollups", "--merchant", dataset.merchant.slug, "--only", "categorymonth,channelday")

    # Then: the check passes and the selectors equal the oracle again
    call_command("check_rollups", "--merchant", dataset.merchant.slug)
    assert "agree" in capsys.readouterr().out
    assert_matches_oracle(dataset, resolve(dataset, CASES[0][1]))


def test_rebuild_only_rejects_unknown_tables(dataset):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="storeday"):
        call_command("rebuild_rollups", "--merchant", dataset.merchant.slug, "--only", "storeday")
