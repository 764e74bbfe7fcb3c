"""Every changelist runs a fixed number of queries whatever the number of rows (no N+1).

Each case loads its changelist with 2 and with 5 rows per merchant and expects the exact same count.
"""

import pytest

from merchants.models import AuditAction, Role
from merchants.services import api_key_create, audit_record, invitation_create

from ..factories import CategoryFactory, MembershipFactory, MerchantFactory, ProductFactory, StoreFactory, UserFactory

pytestmark = pytest.mark.django_db


def _two_merchants() -> list:
    return [MerchantFactory(name=f"Brand {n}", slug=f"brand-{n}") for n in range(2)]


def build_merchants(rows: int) -> None:
    for n in range(rows):
        merchant = MerchantFactory(name=f"Brand {n}", slug=f"brand-{n}")
        StoreFactory.create_batch(2, merchant=merchant)
        MembershipFactory.create_batch(2, merchant=merchant)


def build_stores(rows: int) -> None:
    for merchant in _two_merchants():
        StoreFactory.create_batch(rows, merchant=merchant)


def build_categories(rows: int) -> None:
    for merchant in _two_merchants():
        for category in CategoryFactory.create_batch(rows, merchant=merchant):
            ProductFactory(merchant=merchant, category=category)


def build_products(rows: int) -> None:
    for merchant in _two_merchants():
        ProductFactory.create_batch(rows, merchant=merchant)


def build_memberships(rows: int) -> None:
    for merchant in _two_merchants():
        MembershipFactory.create_batch(rows, merchant=merchant, role=Role.ANALYST)


def build_invitations(rows: int) -> None:
    for merchant in _two_merchants():
        inviter = MembershipFactory(merchant=merchant).user
        for n in range(rows):
            invitation_create(merchant=merchant, email=f"guest{n}@example.com", role=Role.ANALYST, actor=inviter)


def build_api_keys(rows: int) -> None:
    for merchant in _two_merchants():
        for n in range(rows):
            api_key_create(merchant=merchant, name=f"key {n}", scopes=["stores:read"])


def build_audit_events(rows: int) -> None:
    for merchant in _two_merchants():
        actor = UserFactory()
        api_key, _ = api_key_create(merchant=merchant, name="POS", scopes=["stores:read"], actor=actor)
        for n in range(rows):
            audit_record(action=AuditAction.STORE_CREATED, merchant=merchant, actor=actor, target=f"S{n}")
            audit_record(action=AuditAction.STORE_UPDATED, merchant=merchant, api_key=api_key, target=f"S{n}")


def build_users(rows: int) -> None:
    for merchant in _two_merchants():
        MembershipFactory.create_batch(rows, merchant=merchant)


CASES = [
    # label, changelist URL, builder, queries: session, user, COUNT(s), rows, one per related filter, two for a
    # date hierarchy
    ("merchants", "/admin/merchants/merchant/", build_merchants, 8),
    ("stores", "/admin/stores/store/", build_stores, 5),
    ("categories", "/admin/catalog/category/", build_categories, 6),
    ("products", "/admin/catalog/product/", build_products, 5),
    ("memberships", "/admin/merchants/membership/", build_memberships, 6),
    ("invitations", "/admin/merchants/invitation/", build_invitations, 8),
    ("api keys", "/admin/merchants/apikey/", build_api_keys, 8),
    ("audit events", "/admin/merchants/auditevent/", build_audit_events, 7),
    ("users", "/admin/accounts/user/", build_users, 7),
]


@pytest.mark.parametrize("rows", [2, 5])
@pytest.mark.parametrize(("url", "build", "queries"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_changelist_query_count_does_not_grow_with_rows(
    staff_client, django_assert_num_queries, url, build, queries, rows
):
    # Given several rows (with their related objects)
    build(rows)

    # When staff open the changelist
    with django_assert_num_queries(queries):
        response = staff_client.get(url)

    # Then it renders every row in a fixed number of queries
    assert response.status_code == 200
    assert response.context["cl"].result_count >= rows


def test_merchant_changelist_shows_exact_counts(staff_client):
    build_merchants(3)

    response = staff_client.get("/admin/merchants/merchant/")

    assert [(m.slug, m.stores_count, m.members_count) for m in response.context["cl"].result_list] == [
        ("brand-0", 2, 2),
        ("brand-1", 2, 2),
        ("brand-2", 2, 2),
    ]


def test_store_changelist_lists_code_name_merchant_city_country_status(staff_client):
    merchant = MerchantFactory(name="Maison Alpha", slug="alpha")
    StoreFactory(merchant=merchant, code="PAR-1", name="Paris Marais", city="Paris", country="FR")
    StoreFactory(merchant=merchant, code="LON-1", name="London Soho", city="London", country="GB")

    response = staff_client.get("/admin/stores/store/?q=london")

    html = response.content.decode()
    assert [store.code for store in response.context["cl"].result_list] == ["LON-1"]
    for cell in ("LON-1", "London Soho", "Maison Alpha", "London", "United Kingdom", "Active"):
        assert cell in html
