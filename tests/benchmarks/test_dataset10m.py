"""The 10M-line benchmark generator (``benchmarks/dataset10m.py``): its binary COPY encoding round-trips through
PostgreSQL exactly, and a small generated business keeps the ingest's money and local-day rules."""

import sys
import zoneinfo
from argparse import Namespace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from django.db import connection

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import dataset10m  # noqa: E402

pytestmark = pytest.mark.django_db


def test_binary_rows_round_trip_through_postgresql():
    # Given values at the edges of each encoded kind (negative and zero money, 3-decimal quantities, NULLs)
    cents = np.array([0, -1, 12_345, -99_999_999_999, 100])
    thousandths = np.array([1_000, -2_000, 0, 1, 999_999_999])
    moments = np.array(
        [datetime(2026, 3, 8, 7, 30, tzinfo=UTC).timestamp(), 946_684_800, 0, 1_700_000_000, 2_000_000_000]
    )
    days = np.array([(date(2024, 2, 29) - date(2000, 1, 1)).days, 0, -1, 9_000, 10])
    fields = [
        ("int8", np.array([1, 2, 3, 2**40, 5])),
        ("int4", 7),
        ("date", days),
        ("ts", dataset10m._ts(moments)),
        ("num2", cents),
        ("num3", thousandths),
        ("text", dataset10m.fixed_text(b"B", np.array([1, 22, 333, 4444, 55555]), 6)),
        ("text", b""),
        ("null", None),
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE copy_check (a bigint, b integer, c date, d timestamptz, e numeric(14, 2), "
            "f numeric(12, 3), g text, h text, i bigint)"
        )
        # When the rows go through COPY ... (FORMAT binary)
        with cursor.cursor.copy("COPY copy_check FROM STDIN (FORMAT binary)") as copy:
            copy.write(dataset10m.COPY_HEADER + dataset10m.binary_rows(5, fields) + dataset10m.COPY_TRAILER)
        cursor.execute("SELECT a, b, c, d, e, f, g, h, i FROM copy_check ORDER BY a")
        rows = cursor.fetchall()
    # Then PostgreSQL reads back exactly the values meant
    assert rows[0] == (
        1, 7, date(2024, 2, 29), datetime(2026, 3, 8, 7, 30, tzinfo=UTC), Decimal("0.00"), Decimal("1.000"),
        "B000001", "", None,
    )  # fmt: skip
    assert [row[4] for row in rows] == [
        Decimal("0.00"), Decimal("-0.01"), Decimal("123.45"), Decimal("1.00"), Decimal("-999999999.99")
    ]  # fmt: skip
    assert [row[5] for row in rows] == [
        Decimal("1.000"), Decimal("-2.000"), Decimal("0.000"), Decimal("999999.999"), Decimal("0.001")
    ]  # fmt: skip
    assert [row[2] for row in rows] == [
        date(2024, 2, 29), date(2000, 1, 1), date(1999, 12, 31), date(2000, 1, 11), date(2024, 8, 22)
    ]  # fmt: skip
    assert [row[3] for row in rows][1:3] == [datetime(2000, 1, 1, tzinfo=UTC), datetime(1970, 1, 1, tzinfo=UTC)]
    assert [row[6] for row in rows] == ["B000001", "B000022", "B000333", "B055555", "B004444"]


def test_generated_business_follows_the_ingest_rules():
    # Given a small business: 5,000 lines over 60 days ending on a known day, 12 stores, 400 products
    today = date(2026, 3, 20)  # the window covers the US daylight-saving change of 2026-03-08
    now = int(datetime(2026, 3, 20, 23, 0, tzinfo=UTC).timestamp())
    args = Namespace(lines=5_000, days=60)
    # When it is generated
    data = dataset10m.generate(args, np.random.default_rng(1), 12, 400, today, now)
    # Then there are exactly the lines asked for, returns included
    assert int(data["sale_count"].sum()) + len(data["refunded_orders"]) == 5_000
    assert data["order_count"] == 2_000
    # and each order's money is the ingest's: gross = Σ sale gross, net = gross - discounts - refunds
    gross = np.bincount(data["sale_order"], weights=data["line_gross"], minlength=data["order_count"])
    assert np.array_equal(gross.astype(np.int64), data["gross"])
    assert np.array_equal(data["line_gross"], data["unit_price"] * data["quantity"])
    assert np.array_equal(data["line_net"], data["line_gross"] - data["line_discount"])
    assert np.array_equal(data["net"], data["gross"] - data["discounts"] - data["refunds"])
    line_discounts = np.bincount(data["sale_order"], weights=data["line_discount"], minlength=data["order_count"])
    assert (data["discounts"] >= line_discounts.astype(np.int64)).all()
    assert (data["discounts"] <= data["gross"]).all()
    # and refunds come on a later local day, never after now, never on cancelled orders
    refunded = data["refunded_orders"]
    assert (data["refund_day"] > data["day"][refunded]).all()
    assert (data["refund_placed"] <= now).all()
    assert not data["cancelled"][refunded].any()
    assert np.array_equal(data["refunds"][refunded], data["return_value"])
    # and placed times are chronological (order ids follow time), none in the future
    assert (np.diff(data["placed"]) >= 0).all()
    assert data["placed"].max() <= now
    # and each local day is the placed time's day in the store's zone (offline) or the merchant's (online)
    zones = data["zones"]
    for index in range(0, data["order_count"], 7):
        zone = zoneinfo.ZoneInfo(zones[data["zone"][index]])
        local = datetime.fromtimestamp(int(data["placed"][index]), UTC).astimezone(zone).date()
        assert (local - data["first"]).days == data["day"][index], index
        if data["online"][index]:
            assert zones[data["zone"][index]] == dataset10m.MERCHANT_TZ
    # and offline orders always have a store, identified customers exist on both channels (omnichannel)
    assert (data["store"][~data["online"]] >= 0).all()
    customer = data["customer"]
    online_customers = set(customer[(customer >= 0) & data["online"]].tolist())
    offline_customers = set(customer[(customer >= 0) & ~data["online"]].tolist())
    assert len(online_customers & offline_customers) > 0.1 * len(online_customers | offline_customers)
