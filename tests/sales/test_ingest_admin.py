"""Staff admin for sales: read-only pages, useful columns, and changelists in a fixed number of queries."""

from __future__ import annotations

import pytest
from django.test import Client

from sales.ingest.service import orders_ingest
from sales.models import Customer, CustomerMerge, ImportJob, ImportRowError, Order

from ..factories import MerchantFactory, StoreFactory, UserFactory
from .ingest_builders import email, line, offline, order, phone, refund

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def staff_client(db):
    user = UserFactory(email="staff@newretail.test", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(user)
    return client


def build_sales(rows: int) -> None:
    """Per merchant (two of them): ``rows`` orders, each of a customer, pairs later merged, with lines."""
    for m in range(2):
        merchant = MerchantFactory(name=f"Brand {m}", slug=f"brand-{m}")
        StoreFactory(merchant=merchant, code="PAR-01")
        orders_ingest(
            merchant=merchant,
            orders=[
                offline(
                    f"S-{n}", lines=[line(f"SKU-{n}"), line("BAG-1"), refund("1.00")], identifiers=[email(f"c{n}@x.fr")]
                )
                for n in range(rows)
            ],
        )
        orders_ingest(
            merchant=merchant,
            orders=[order(f"W-{n}", identifiers=[phone(f"+33 6 12 34 56 {n:02d}")]) for n in range(rows)],
        )
        # each later order links an e-mail customer to a phone customer: one merge each
        orders_ingest(
            merchant=merchant,
            orders=[
                order(f"L-{n}", identifiers=[email(f"c{n}@x.fr"), phone(f"+33 6 12 34 56 {n:02d}")])
                for n in range(rows)
            ],
        )


def build_imports(rows: int) -> None:
    for m in range(2):
        merchant = MerchantFactory(name=f"Brand {m}", slug=f"brand-{m}")
        for n in range(rows):
            job = ImportJob.objects.create(
                merchant=merchant, original_name=f"orders-{n}.csv", file=f"imports/{n}.csv", error_count=2
            )
            for row in (2, 3):
                ImportRowError.objects.create(
                    merchant=merchant, job=job, row=row, column="Total", reason="not a number"
                )


CASES = [
    # label, changelist URL, builder, queries: session, user, the merchant filter's choices, COUNT (and the full
    # count where shown), rows, and two for a date hierarchy
    ("customers", "/admin/sales/customer/", build_sales, 5),
    ("merges", "/admin/sales/customermerge/", build_sales, 8),
    ("orders", "/admin/sales/order/", build_sales, 5),
    ("import jobs", "/admin/sales/importjob/", build_imports, 8),
    ("row errors", "/admin/sales/importrowerror/", build_imports, 4),
]


@pytest.mark.parametrize("rows", [2, 5])
@pytest.mark.parametrize(("url", "build", "queries"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_changelist_query_count_does_not_grow_with_rows(
    staff_client, django_assert_num_queries, url, build, queries, rows
):
    # Given several rows with their related objects
    build(rows)

    # When staff open the changelist
    with django_assert_num_queries(queries):
        response = staff_client.get(url)

    # Then it renders every row in a fixed number of queries
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) >= rows


def test_customer_list_shows_counts_and_merges(staff_client):
    build_sales(2)

    response = staff_client.get(f"/admin/sales/customer/?merchant__id__exact={Customer.objects.first().merchant_id}")

    rows = {
        (c.display_name, c.orders_count, c.identifiers_count, c.merged_into_id)
        for c in response.context["cl"].result_list
    }
    survivors = Customer.objects.filter(merged_into__isnull=True, merchant_id=Customer.objects.first().merchant_id)
    assert {(row[1], row[2]) for row in rows if row[3] is None} == {(3, 2)}  # S-, W- and L- orders; e-mail + phone
    assert {(row[1], row[2]) for row in rows if row[3] is not None} == {(0, 0)}
    assert survivors.count() == 2


def test_customer_page_shows_identifiers_and_merges(staff_client):
    build_sales(1)
    survivor = Customer.objects.filter(merged_into__isnull=True).first()
    merged = Customer.objects.get(merged_into=survivor)

    page = staff_client.get(f"/admin/sales/customer/{survivor.pk}/change/").content.decode()
    merged_page = staff_client.get(f"/admin/sales/customer/{merged.pk}/change/").content.decode()

    assert "c0***@x.fr" not in page  # hints mask all but the first character
    assert "c***@x.fr" in page
    assert "+33 ••• 00" in page
    assert "Customers merged into this one" in page
    assert "email, phone via order <code>api:L-0</code>" in page
    assert "Merged into" in merged_page


def test_order_page_shows_its_lines(staff_client):
    build_sales(1)
    stored = Order.objects.get(external_id="S-0", merchant__slug="brand-0")

    response = staff_client.get(f"/admin/sales/order/{stored.pk}/change/")

    html = response.content.decode()
    assert response.status_code == 200
    assert [line.line_number for line in stored.lines.all()] == [1, 2, 3]
    for cell in ("SKU-0", "BAG-1", "-1.00", "PAR-01"):
        assert cell in html


@pytest.mark.parametrize(
    "url",
    [
        "/admin/sales/customer/add/",
        "/admin/sales/order/add/",
        "/admin/sales/importjob/add/",
        "/admin/sales/customermerge/add/",
    ],
)
def test_sales_admin_is_read_only(staff_client, url):
    assert staff_client.get(url).status_code == 403


def test_import_job_links_to_its_row_errors(staff_client):
    build_imports(1)
    job = ImportJob.objects.first()

    page = staff_client.get(f"/admin/sales/importjob/{job.pk}/change/").content.decode()
    errors = staff_client.get(f"/admin/sales/importrowerror/?job__id__exact={job.pk}")

    assert f"/admin/sales/importrowerror/?job__id__exact={job.pk}" in page
    assert [(e.job_id, e.row) for e in errors.context["cl"].result_list] == [(job.pk, 2), (job.pk, 3)]
    assert CustomerMerge.objects.count() == 0
