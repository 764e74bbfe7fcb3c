"""Tenant isolation and role matrix over EVERY route of the project.

The route tables below must name every URL pattern the project has (browser and API). A route added later
without a row here makes ``test_every_route_is_covered`` fail: decide how it is isolated and add the row.

For each merchant route the tests prove that merchant B's users:
- get 404 on merchant A's URLs (A's slug), for GET and POST;
- get 404 on A's objects addressed under B's own slug (ids/codes/SKUs of A);
- never see A's data on B's own pages (A's marker strings never appear);
and, for each role of merchant A, that reads and writes are allowed or refused (403) as the table says.
For each API route: B's key gets 404 for A's objects on every method, lists never contain A's data, and A's
objects are unchanged afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from merchants.models import ApiScope, Invitation, Role
from merchants.services import api_key_create, invitation_create
from stores.models import Store

from .factories import (
    CategoryFactory,
    MembershipFactory,
    MerchantFactory,
    ProductFactory,
    StoreFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

ALL = frozenset({Role.OWNER, Role.ADMIN, Role.ANALYST, Role.STORE_MANAGER})
MANAGERS = frozenset({Role.OWNER, Role.ADMIN})
OWNERS = frozenset({Role.OWNER})
NOBODY: frozenset = frozenset()
RULE_EDITORS = frozenset({Role.OWNER, Role.ADMIN, Role.STORE_MANAGER})  # store managers: their stores' rules

MARKERS = (
    "Alpha Secret Store",
    "Alpha Secret Product",
    "Alpha Secret Category",
    "Alpha Secret Key",
    "owner@alpha.test",
    "invitee@alpha.test",
    "ALPHA-SKU-1",
    "ALPHA-S1",
    "Alpha Secret Import",
)


# --- the world: merchant A with one of everything, merchant B with its own -----------------------


@dataclass
class Side:
    merchant: object
    owner: object
    store: object
    product: object
    category: object
    api_key: object
    invitation: object
    member: object  # a non-owner membership (analyst)
    clients: dict = field(default_factory=dict)


def _side(prefix: str, name: str) -> Side:
    merchant = MerchantFactory(slug=prefix, name=name)
    cap = prefix.capitalize()
    owner = MembershipFactory(merchant=merchant, role=Role.OWNER, user=UserFactory(email=f"owner@{prefix}.test"))
    store = StoreFactory(merchant=merchant, code=f"{prefix.upper()}-S1", name=f"{cap} Secret Store")
    category = CategoryFactory(merchant=merchant, name=f"{cap} Secret Category")
    product = ProductFactory(
        merchant=merchant, sku=f"{prefix.upper()}-SKU-1", name=f"{cap} Secret Product", category=category
    )
    api_key, _ = api_key_create(merchant=merchant, name=f"{cap} Secret Key", scopes=[ApiScope.STORES_READ])
    invitation, _ = invitation_create(
        merchant=merchant, email=f"invitee@{prefix}.test", role=Role.ANALYST, actor=owner.user
    )
    member = MembershipFactory(merchant=merchant, role=Role.ANALYST, user=UserFactory(email=f"analyst@{prefix}.test"))
    _side_order(merchant, cap, store, product)
    _side_import_job(merchant, cap)
    _side_recommendations(merchant, category, product, store)
    side = Side(merchant, owner, store, product, category, api_key, invitation, member)
    for role in ALL:
        membership = (
            owner
            if role == Role.OWNER
            else (
                member
                if role == Role.ANALYST
                else MembershipFactory(merchant=merchant, role=role, user=UserFactory(email=f"{role}@{prefix}.test"))
            )
        )
        if role == Role.STORE_MANAGER:
            membership.stores.add(store)
        client = Client()
        client.force_login(membership.user)
        side.clients[role] = client
    return side


def _side_order(merchant, cap: str, store, product) -> None:
    """One in-store order, "<Cap>-ORDER-1", selling the side's product at its store (through the ingest service)."""
    from datetime import UTC, datetime
    from decimal import Decimal

    from sales.ingest.service import orders_ingest
    from sales.ingest.types import LineInput, OrderInput

    line = LineInput(sku=product.sku, quantity=Decimal(1), unit_price=Decimal("9.90"))
    placed_at = datetime(2024, 5, 4, 12, 0, tzinfo=UTC)
    order = OrderInput(
        source="api",
        external_id=f"{cap}-ORDER-1",
        channel="offline",
        placed_at=placed_at,
        currency="EUR",
        store=store.code,
        lines=[line],
    )
    outcomes = orders_ingest(merchant=merchant, orders=[order])
    assert [outcome.result for outcome in outcomes] == ["created"], outcomes


def _side_import_job(merchant, cap: str) -> None:
    """One finished file import, "<Cap> Secret Import.csv", with one row error naming the side's marker."""
    from sales.models import ImportJob, ImportRowError

    job = ImportJob.objects.create(
        merchant=merchant, original_name=f"{cap} Secret Import.csv", file="imports/none.csv", status="failed"
    )
    ImportRowError.objects.create(
        merchant=merchant, job=job, row=2, column="sku", value=f"{cap} Secret Import", reason="x"
    )


def _side_recommendations(merchant, category, product, store) -> None:
    """One pin (for the side's category, of its product, scoped to its store) and one finished computation."""
    from recommendations.models import RecommendationJob
    from recommendations.rules import rule_create

    rule_create(merchant=merchant, actor=None, kind="pin", category=category, target=product, stores=[store])
    RecommendationJob.objects.create(merchant=merchant, status="succeeded")


def _rule_pk(side) -> int:
    from recommendations.models import RecommendationRule

    return RecommendationRule.objects.get(merchant=side.merchant).pk


def _reco_job_pk(side) -> int:
    from recommendations.models import RecommendationJob

    return RecommendationJob.objects.get(merchant=side.merchant).pk


def _report_job_pk(side) -> int:
    """A queued report of the side, on the side's store (so its store manager may open it)."""
    from reports.models import ReportJob

    job, _ = ReportJob.objects.get_or_create(
        merchant=side.merchant,
        defaults={
            "kind": "order-lines",
            "params": {"from": "2024-05-01", "to": "2024-05-31"},
            "resolved": {"date_from": "2024-05-01", "date_to": "2024-05-31", "store_ids": [side.store.pk]},
            "store_ids": [side.store.pk],
            "request_hash": f"isolation-{side.merchant.slug}",
            "file_token": f"token-{side.merchant.slug}",
        },
    )
    return job.pk


def _report_schedule_pk(side) -> int:
    from django.utils import timezone

    from reports.models import ReportSchedule

    schedule, _ = ReportSchedule.objects.get_or_create(
        merchant=side.merchant,
        defaults={"name": "Weekly", "kind": "sales-summary", "frequency": "weekly", "next_run_at": timezone.now()},
    )
    return schedule.pk


def _import_job_pk(side) -> int:
    from sales.models import ImportJob

    return ImportJob.objects.get(merchant=side.merchant).pk


@pytest.fixture
def world():
    a = _side("alpha", "Alpha Brand")
    b = _side("beta", "Beta Brand")
    return a, b


# --- route tables ------------------------------------------------------------------------------

# kwargs (besides merchant_slug) addressing a side's object, for routes that take one.
OBJECT_KWARGS = {
    "stores:store-detail": lambda s: {"code": s.store.code},
    "stores:store-update": lambda s: {"code": s.store.code},
    "stores:store-close": lambda s: {"code": s.store.code},
    "stores:store-reopen": lambda s: {"code": s.store.code},
    "catalog:product-detail": lambda s: {"sku": s.product.sku},
    "catalog:product-update": lambda s: {"sku": s.product.sku},
    "merchants:member-update": lambda s: {"pk": s.member.pk},
    "merchants:member-remove": lambda s: {"pk": s.member.pk},
    "merchants:invitation-revoke": lambda s: {"pk": s.invitation.pk},
    "merchants:apikey-revoke": lambda s: {"pk": s.api_key.pk},
    "merchants:onboarding-step": lambda s: {"step": "profile"},
    "sales:import-detail": lambda s: {"pk": _import_job_pk(s)},
    "sales:import-progress": lambda s: {"pk": _import_job_pk(s)},
    "sales:import-errors-csv": lambda s: {"pk": _import_job_pk(s)},
    "reports:report-detail": lambda s: {"pk": _report_job_pk(s)},
    "reports:report-progress": lambda s: {"pk": _report_job_pk(s)},
    "reports:report-cancel": lambda s: {"pk": _report_job_pk(s)},
    "reports:report-retry": lambda s: {"pk": _report_job_pk(s)},
    "reports:report-download": lambda s: {"pk": _report_job_pk(s)},
    "reports:schedule-delete": lambda s: {"pk": _report_schedule_pk(s)},
    "recommendations:rule-delete": lambda s: {"pk": _rule_pk(s)},
    "recommendations:rule-move": lambda s: {"pk": _rule_pk(s)},
    "recommendations:job-progress": lambda s: {"pk": _reco_job_pk(s)},
    "analytics:store-dashboard": lambda s: {"code": s.store.code},
    "analytics:product-detail": lambda s: {"pk": s.product.pk},
}

# route name -> (roles that may GET, roles that may POST). NOBODY for POST = the page has no POST (405 ok).
MERCHANT_ROUTES: dict[str, tuple[frozenset, frozenset]] = {
    "merchants:home": (ALL, NOBODY),
    "merchants:onboarding": (MANAGERS, MANAGERS),
    "merchants:onboarding-step": (MANAGERS, MANAGERS),
    "merchants:settings": (ALL, MANAGERS),
    "merchants:member-list": (ALL, NOBODY),
    "merchants:invitation-create": (MANAGERS, MANAGERS),
    "merchants:member-update": (MANAGERS, MANAGERS),
    "merchants:member-remove": (MANAGERS, MANAGERS),
    "merchants:invitation-revoke": (MANAGERS, MANAGERS),
    "merchants:apikey-list": (MANAGERS, NOBODY),
    "merchants:apikey-create": (MANAGERS, MANAGERS),
    "merchants:apikey-revoke": (MANAGERS, MANAGERS),
    "merchants:audit-list": (OWNERS, NOBODY),
    "stores:store-list": (ALL, NOBODY),
    "stores:store-create": (MANAGERS, MANAGERS),
    "stores:store-detail": (ALL, NOBODY),
    "stores:store-update": (MANAGERS, MANAGERS),
    "stores:store-close": (MANAGERS, MANAGERS),
    "stores:store-reopen": (MANAGERS, MANAGERS),
    "stores:store-import": (MANAGERS, MANAGERS),
    "stores:store-import-template": (ALL, NOBODY),
    "catalog:product-list": (ALL, NOBODY),
    "catalog:product-create": (MANAGERS, MANAGERS),
    "catalog:product-detail": (ALL, NOBODY),
    "catalog:product-update": (MANAGERS, MANAGERS),
    "catalog:product-import": (MANAGERS, MANAGERS),
    "catalog:product-import-template": (ALL, NOBODY),
    "catalog:category-list": (ALL, MANAGERS),
    "sales:import-list": (ALL, MANAGERS),
    "sales:import-detail": (ALL, MANAGERS),
    "sales:import-progress": (ALL, NOBODY),
    "sales:import-errors-csv": (ALL, NOBODY),
    "reports:report-list": (ALL, ALL),  # every role orders reports (store managers: on their stores)
    "reports:report-detail": (ALL, NOBODY),
    "reports:report-progress": (ALL, NOBODY),
    "reports:report-cancel": (ALL, ALL),  # GET redirects to the job; POST: requester or owner/admin
    "reports:report-retry": (ALL, ALL),
    "reports:report-download": (ALL, NOBODY),
    "reports:schedule-list": (MANAGERS, MANAGERS),
    "reports:schedule-delete": (MANAGERS, MANAGERS),
    "recommendations:editor": (ALL, RULE_EDITORS),
    "recommendations:product-search": (ALL, NOBODY),
    "recommendations:preview": (ALL, NOBODY),
    "recommendations:rule-list": (ALL, NOBODY),
    "recommendations:rule-reorder": (ALL, RULE_EDITORS),
    "recommendations:rule-export": (ALL, NOBODY),
    "recommendations:rule-import": (RULE_EDITORS, RULE_EDITORS),
    "recommendations:rule-import-template": (ALL, NOBODY),
    "recommendations:rule-delete": (ALL, RULE_EDITORS),
    "recommendations:rule-move": (ALL, RULE_EDITORS),
    "recommendations:compute": (ALL, MANAGERS),
    "recommendations:job-progress": (ALL, NOBODY),
    "recommendations:evaluation": (ALL, NOBODY),
    "analytics:store-dashboard": (ALL, NOBODY),
    "analytics:product-detail": (ALL, NOBODY),
    "analytics:chart-csv": (ALL, NOBODY),
}

# Routes without a merchant in the URL: who they are for and why they cannot leak tenant data.
PUBLIC_ROUTES = {
    "merchants:landing": "redirects to login or the user's own merchant",
    "merchants:home-redirect": "redirects to one of the user's own merchants",
    "merchants:merchant-create": "creates a new merchant owned by the user",
    "merchants:invitation-accept": "token-addressed; tested in tests/merchants (wrong user refused)",
    "api-schema": "public OpenAPI schema, no tenant data",
    "api-docs": "public API docs, no tenant data",
    "api-redoc": "public API docs, no tenant data",
}
PUBLIC_PREFIXES = ("accounts:", "admin:")  # sign-in pages; staff admin (staff-only, tested in tests/admin)

# API route name -> {method: expected status for another merchant's object or list}.
API_OBJECT_KWARGS = {
    "api:store-detail": lambda s: {"code": s.store.code},
    "api:store-close": lambda s: {"code": s.store.code},
    "api:product-detail": lambda s: {"sku": s.product.sku},
    "api:order-detail": lambda s: {"source": "api", "external_id": f"{s.merchant.slug.capitalize()}-ORDER-1"},
    "api:import-detail": lambda s: {"pk": _import_job_pk(s)},
    "api:import-errors": lambda s: {"pk": _import_job_pk(s)},
    "api:report-detail": lambda s: {"pk": _report_job_pk(s)},
    "api:report-download": lambda s: {"pk": _report_job_pk(s)},
    "api:report-cancel": lambda s: {"pk": _report_job_pk(s)},
    "api:recommendation-rule-detail": lambda s: {"pk": _rule_pk(s)},
    "api:recommendation-job-detail": lambda s: {"pk": _reco_job_pk(s)},
}
API_LIST_ROUTES = {
    "api:store-list",
    "api:product-list",
    "api:category-list",
    "api:product-bulk",
    "api:order-list",
    "api:order-batch",
    "api:import-list",
    "api:report-list",
    "api:recommendation-rule-list",
    "api:recommendation-compute",
    "api:recommendation-list",
    "api:analytics-summary",
    "api:analytics-timeseries",
    "api:analytics-stores",
    "api:analytics-products",
}
API_WRITE_ONLY_ROUTES = {"api:product-bulk", "api:order-batch", "api:recommendation-compute"}
# GET needs ?product=SKU or ?customer=ID, not a plain list (another merchant's SKU answers 404, its customer is
# unknown: tests/recommendations/test_api.py).
API_WRITE_ONLY_ROUTES |= {"api:recommendation-list"}
API_WRITE_ONLY_ROUTES |= {"api:report-list"}  # POST only (order a report); jobs are read one by one


def _walk(patterns, prefix="", namespace=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern) and entry.name:
            yield f"{namespace}{entry.name}", prefix + str(entry.pattern)


def project_routes() -> dict[str, str]:
    return dict(_walk(get_resolver().url_patterns))


def _url(name: str, side: Side, objects_of: Side | None = None) -> str:
    kwargs = {"merchant_slug": side.merchant.slug}
    maker = OBJECT_KWARGS.get(name) or API_OBJECT_KWARGS.get(name)
    if maker:
        kwargs.update(maker(objects_of or side))
    if name.startswith("api:"):
        kwargs.pop("merchant_slug")
    return reverse(name, kwargs=kwargs)


# --- coverage ---------------------------------------------------------------------------------


def test_every_route_is_covered():
    known = set(MERCHANT_ROUTES) | set(PUBLIC_ROUTES) | set(API_OBJECT_KWARGS) | API_LIST_ROUTES
    uncovered = sorted(name for name in project_routes() if name not in known and not name.startswith(PUBLIC_PREFIXES))
    assert uncovered == [], f"routes without an isolation/role row in tests/test_isolation.py: {uncovered}"
    missing = sorted(n for n in known if n not in project_routes())
    assert missing == [], f"rows for routes that no longer exist: {missing}"


def test_every_merchant_route_takes_the_merchant_in_the_url():
    for name, pattern in project_routes().items():
        if name in MERCHANT_ROUTES:
            assert "<slug:merchant_slug>" in pattern, name


# --- browser: another merchant's user ---------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MERCHANT_ROUTES))
@pytest.mark.parametrize("method", ["get", "post"])
def test_other_merchants_owner_gets_404_on_merchant_urls(world, name, method):
    a, b = world
    intruder = b.clients[Role.OWNER]
    response = getattr(intruder, method)(_url(name, a))
    assert response.status_code == 404


@pytest.mark.parametrize("name", sorted(n for n in MERCHANT_ROUTES if n in OBJECT_KWARGS and "onboarding" not in n))
@pytest.mark.parametrize("method", ["get", "post"])
def test_other_merchants_objects_are_404_under_own_slug(world, name, method):
    a, b = world
    response = getattr(b.clients[Role.OWNER], method)(_url(name, b, objects_of=a))
    assert response.status_code == 404
    # and nothing of A's changed
    a.store.refresh_from_db()
    assert a.store.status == "active"
    assert Invitation.objects.get(pk=a.invitation.pk).revoked_at is None
    a.api_key.refresh_from_db()
    assert a.api_key.revoked_at is None
    assert a.member.__class__.objects.filter(pk=a.member.pk, role=Role.ANALYST).exists()


@pytest.mark.parametrize("name", sorted(n for n, (read, _) in MERCHANT_ROUTES.items() if read))
def test_own_pages_never_show_another_merchants_data(world, name):
    a, b = world
    response = b.clients[Role.OWNER].get(_url(name, b))
    assert response.status_code in (200, 302), response.status_code
    body = response.content.decode(errors="replace")
    leaked = [m for m in MARKERS if m in body]
    assert leaked == []


# --- browser: the role matrix within one merchant ----------------------------------------------


@pytest.mark.parametrize("name", sorted(MERCHANT_ROUTES))
@pytest.mark.parametrize("role", sorted(ALL))
def test_role_matrix(world, name, role):
    a, _ = world
    readers, writers = MERCHANT_ROUTES[name]
    client = a.clients[role]
    url = _url(name, a)

    got = client.get(url)
    if role in readers:
        assert got.status_code in (200, 302), f"{role} should read {name}: {got.status_code}"
    else:
        assert got.status_code == 403, f"{role} must not read {name}: {got.status_code}"

    posted = client.post(url, {})
    if role in writers:
        assert posted.status_code in (200, 302, 400), f"{role} should write {name}: {posted.status_code}"
    elif writers == NOBODY and role in readers:
        assert posted.status_code in (403, 405), f"{name} has no POST: {posted.status_code}"
    else:
        assert posted.status_code == 403, f"{role} must not write {name}: {posted.status_code}"


def test_store_manager_sees_only_assigned_stores(world):
    a, _ = world
    hidden = StoreFactory(merchant=a.merchant, code="ALPHA-HIDDEN", name="Hidden Store")
    client = a.clients[Role.STORE_MANAGER]
    listing = client.get(reverse("stores:store-list", kwargs={"merchant_slug": a.merchant.slug}))
    assert a.store.name in listing.content.decode()
    assert "Hidden Store" not in listing.content.decode()
    detail = client.get(reverse("stores:store-detail", kwargs={"merchant_slug": a.merchant.slug, "code": hidden.code}))
    assert detail.status_code == 404


# --- API ---------------------------------------------------------------------------------------


def _api(side: Side):
    from rest_framework.test import APIClient

    _, raw = api_key_create(merchant=side.merchant, name="all scopes", scopes=ApiScope.values)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.mark.parametrize("name", sorted(API_OBJECT_KWARGS))
@pytest.mark.parametrize("method", ["get", "put", "patch", "post", "delete"])
def test_other_merchants_key_gets_404_on_api_objects(world, name, method):
    a, b = world
    response = getattr(_api(b), method)(_url(name, b, objects_of=a), {"name": "hijacked"}, format="json")
    assert response.status_code in (404, 405), response.status_code
    if response.status_code == 405:
        # a method the route doesn't have: fine, but it must not be because the object was found
        assert _api(b).get(_url(name, b, objects_of=a)).status_code in (404, 405)
    a.store.refresh_from_db()
    a.product.refresh_from_db()
    assert (a.store.name, a.store.status, a.product.name) == ("Alpha Secret Store", "active", "Alpha Secret Product")


@pytest.mark.parametrize("name", sorted(API_LIST_ROUTES - API_WRITE_ONLY_ROUTES))
def test_api_lists_never_show_another_merchants_data(world, name):
    a, b = world
    response = _api(b).get(reverse(name))
    assert response.status_code == 200
    body = response.content.decode()
    assert [m for m in MARKERS if m in body] == []
    assert "Beta" in body


def test_api_bulk_upsert_cannot_touch_another_merchants_product(world):
    a, b = world
    response = _api(b).post(
        reverse("api:product-bulk"),
        {"products": [{"sku": a.product.sku, "name": "hijacked", "price": "1.00"}]},
        format="json",
    )
    assert response.status_code == 200, response.content
    a.product.refresh_from_db()
    assert a.product.name == "Alpha Secret Product"
    assert Store.objects.filter(merchant=a.merchant).count() == 1


def test_api_order_batch_cannot_touch_another_merchants_order(world):
    from sales.models import Order

    a, b = world
    order = {
        "external_id": "Alpha-ORDER-1",
        "channel": "online",
        "placed_at": "2024-05-04T12:00:00Z",
        "currency": "EUR",
        "lines": [{"sku": a.product.sku, "quantity": "5", "unit_price": "1.00"}],
    }
    response = _api(b).post(reverse("api:order-batch"), {"orders": [order]}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["results"][0]["result"] == "created"  # B's own order, with B's own placeholder product
    alpha = Order.objects.get(merchant=a.merchant, external_id="Alpha-ORDER-1")
    assert (alpha.channel, str(alpha.gross)) == ("offline", "9.90")
    assert Order.objects.get(merchant=b.merchant, external_id="Alpha-ORDER-1").gross == 5
