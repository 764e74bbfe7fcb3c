"""The sales schema the fast write path relies on: ``sales_order``'s foreign keys have no database constraint
(deletions still go through the ORM's ``on_delete``), and the batch lookups probe their unique indexes whatever
the planner's statistics say."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.models import ProtectedError

from sales.demo import merchant_sales_delete
from sales.ingest import writer
from sales.ingest.service import orders_ingest
from sales.models import Customer, ImportJob, Order, OrderLine

from ..factories import MerchantFactory, StoreFactory
from .ingest_builders import email, line, offline, order

pytestmark = pytest.mark.django_db


@pytest.fixture
def paris(merchant):
    return StoreFactory(merchant=merchant, code="PAR-01", name="Paris Marais", country="FR", timezone="Europe/Paris")


def _foreign_keys(table: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.attname FROM pg_constraint c JOIN pg_attribute a "
            "ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey) "
            "WHERE c.contype = 'f' AND c.conrelid = %s::regclass",
            [table],
        )
        return {name for (name,) in cursor.fetchall()}


def _indexed_columns(table: str) -> list[list[str]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s", [table])
        return [definition.split("(", 1)[1].rstrip(")").split(", ") for (definition,) in cursor.fetchall()]


def test_orders_and_lines_have_no_database_foreign_keys_and_no_redundant_indexes():
    assert _foreign_keys("sales_order") == set()
    assert _foreign_keys("sales_orderline") == set()
    assert ["merchant_id"] not in _indexed_columns("sales_customer")
    assert ["merchant_id"] not in _indexed_columns("sales_customeridentifier")
    assert ["import_job_id"] not in _indexed_columns("sales_order")
    # still served: the tenant lookups and the identifiers' own foreign-key check
    assert ["merchant_id", "value_hash"] in _indexed_columns("sales_customeridentifier")
    assert ["customer_id"] in _indexed_columns("sales_customeridentifier")


def test_deleting_a_customer_detaches_its_orders_through_the_orm(merchant):
    orders_ingest(merchant=merchant, orders=[order("A1", identifiers=[email("ann@example.com")])])
    customer = Customer.objects.get(merchant=merchant)
    customer.delete()
    assert Order.objects.get(merchant=merchant, external_id="A1").customer_id is None


def test_deleting_an_import_job_keeps_its_orders(merchant):
    job = ImportJob.objects.create(merchant=merchant, original_name="x.csv", file="imports/x.csv")
    orders_ingest(merchant=merchant, orders=[order("A1")], job=job)
    assert Order.objects.get(merchant=merchant).import_job_id == job.pk
    job.delete()
    assert Order.objects.get(merchant=merchant).import_job_id is None


def test_a_store_with_orders_is_protected_and_a_merchant_goes_with_its_sales(merchant, paris):
    other = MerchantFactory(name="Other", slug="other")
    orders_ingest(merchant=merchant, orders=[offline("S1", identifiers=[email("bob@example.com")])])
    orders_ingest(merchant=other, orders=[order("O1", lines=[line("TEE-2")])])
    with pytest.raises(ProtectedError):
        paris.delete()
    merchant_sales_delete(merchant)  # as seed_demo --reset does: the sales first, then the merchant
    merchant.delete()
    assert not Order.objects.filter(merchant_id=merchant.pk).exists()
    assert not OrderLine.objects.filter(merchant_id=merchant.pk).exists()
    assert not Customer.objects.filter(merchant_id=merchant.pk).exists()
    assert Order.objects.filter(merchant=other).count() == 1


def _plan(sql: str, params: list) -> str:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_the_existing_orders_lookup_probes_the_unique_index_even_with_stale_statistics(merchant):
    orders_ingest(merchant=merchant, orders=[order(f"E{number}") for number in range(300)])
    keys = [("api", f"E{number}") for number in range(0, 600, 2)]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE sales_order")  # statistics taken now, before the table grows tenfold
    orders_ingest(merchant=merchant, orders=[order(f"F{number}") for number in range(3000)])
    found = writer.orders_existing(merchant.pk, keys)
    assert sorted(found) == sorted(key for key in keys if int(key[1][1:]) < 300)
    plan = _plan(
        writer.ORDERS_BY_KEY_SQL.format(columns="o.id"),
        ["{" + ",".join(key[0] for key in keys) + "}", "{" + ",".join(key[1] for key in keys) + "}", merchant.pk],
    )
    assert "order_unique_external_id" in plan
    assert "Seq Scan on sales_order" not in plan
    assert "Hash Join" not in plan


def test_the_previous_version_read_probes_the_primary_key_and_locks_in_the_upserts_order(merchant):
    orders_ingest(merchant=merchant, orders=[order(f"P{number}") for number in range(300)])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE sales_order")  # statistics taken now, before the table grows tenfold
    orders_ingest(merchant=merchant, orders=[order(f"Q{number}") for number in range(3000)])
    stored = dict(Order.objects.filter(merchant=merchant, external_id__startswith="P").values_list("external_id", "id"))
    wanted = [(stored[f"P{number}"], ("api", f"P{number}")) for number in range(0, 300, 3)]  # not in key order
    with transaction.atomic(), connection.cursor() as cursor:
        prior = writer._orders_prior(cursor, merchant.pk, wanted)
    assert sorted(prior) == sorted(order_id for order_id, _ in wanted)
    assert all(values[0] is False and values[4] == "online" for values in prior.values())  # not cancelled, channel
    ids, keys = [order_id for order_id, _ in wanted], [key for _, key in wanted]
    plan = _plan(
        writer.PRIOR_ORDERS_SQL,
        [ids, [key[0] for key in keys], [key[1] for key in keys], merchant.pk],
    )
    assert "sales_order_pkey" in plan
    assert "Seq Scan on sales_order" not in plan
    assert "Hash Join" not in plan
    # the keys sorted (the upsert's order) before the loop that locks one order at a time
    assert plan.index("Nested Loop") < plan.index("Sort Key: u.source, u.external_id") < plan.index("LockRows")
