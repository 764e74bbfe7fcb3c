"""The recommendations API: GET /api/v1/recommendations/, the rules CRUD, compute + job; errors with attr,
scopes, tenancy (404), query counts, cache invalidation on a rule change, customers by identifier, schema."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from merchants.models import ApiScope, AuditAction, AuditEvent
from recommendations.models import JobStatus, RecommendationJob, RecommendationRule
from recommendations.rules import rule_create
from sales.ingest.service import orders_ingest
from sales.ingest.types import IdentifierInput, LineInput, OrderInput

from ..api.conftest import errors_of
from ..factories import CategoryFactory, ProductFactory, StoreFactory
from .helpers import computed_state, together, trending

pytestmark = pytest.mark.django_db

RECOMMENDATIONS_URL = "/api/v1/recommendations/"
RULES_URL = "/api/v1/recommendation-rules/"


@pytest.fixture
def key(api_client):
    """``api_client`` whose key was just used (no ``last_used_at`` write): query counts measure the endpoint."""
    api_client.api_key.last_used_at = timezone.now()
    api_client.api_key.save(update_fields=["last_used_at"])
    return api_client


@pytest.fixture
def catalog(merchant):
    tops = CategoryFactory(merchant=merchant, name="Tops")
    prices = {"TEE": "29.90", "TOTE": "19.00", "SOCKS": "12.00", "MUG": "9.50", "CAP": "15.00"}
    return {
        sku: ProductFactory(merchant=merchant, sku=sku, name=f"Product {sku}", category=tops, price=Decimal(price))
        for sku, price in prices.items()
    }


def test_url_names_match_the_paths():
    assert reverse("api:recommendation-list") == RECOMMENDATIONS_URL
    assert reverse("api:recommendation-compute") == "/api/v1/recommendations/compute/"
    assert reverse("api:recommendation-job-detail", kwargs={"pk": 7}) == "/api/v1/recommendations/jobs/7/"
    assert reverse("api:recommendation-rule-list") == RULES_URL
    assert reverse("api:recommendation-rule-detail", kwargs={"pk": 7}) == f"{RULES_URL}7/"


# --- GET /api/v1/recommendations/ --------------------------------------------------------------------


def test_recommendations_answer_pins_then_suggestions_with_evidence(key, merchant, catalog, django_assert_num_queries):
    computed_state(
        merchant,
        [
            together(catalog["TEE"], catalog["SOCKS"], shared=41, confidence=0.38, lift=6.2, offline=30, online=11),
            trending(catalog["MUG"], 0.9),
        ],
    )
    pin = rule_create(merchant=merchant, actor=None, kind="pin", product="TEE", target="TOTE")
    # key, product, state, rules, suggestions, their products, the fill list (once per process and computation)
    with django_assert_num_queries(7):
        response = key.get(RECOMMENDATIONS_URL, {"product": "TEE", "limit": 3})
    assert response.status_code == 200, response.content
    assert response.json() == {
        "product": "TEE",
        "computed_at": "2024-06-02T02:00:05Z",
        "learnt_scope": "all",
        "fallback": False,
        "notes": [],
        "results": [
            {
                "sku": "TOTE",
                "name": "Product TOTE",
                "price": "19.00",
                "score": None,
                "reason": {"kind": "pinned", "rule": pin.pk, "rule_for": "product"},
                "scope": "all",
            },
            {
                "sku": "SOCKS",
                "name": "Product SOCKS",
                "price": "12.00",
                "score": 0.38,
                "reason": {
                    "kind": "bought_together",
                    "shared_baskets": 41,
                    "confidence": 0.38,
                    "lift": 6.2,
                    "baskets_offline": 30,
                    "baskets_online": 11,
                },
                "scope": "all",
            },
            {
                "sku": "MUG",
                "name": "Product MUG",
                "price": "9.50",
                "score": 0.9,
                "reason": {"kind": "trending"},
                "scope": "all",
            },
        ],
    }
    # the same question again is answered whole from the cache, the key from the process's key cache: no query
    with django_assert_num_queries(0):
        again = key.get(RECOMMENDATIONS_URL, {"product": "TEE", "limit": 3})
    assert again.content == response.content


def test_a_rule_change_shows_at_once(key, merchant, catalog, django_capture_on_commit_callbacks):
    computed_state(
        merchant, [together(catalog["TEE"], catalog["SOCKS"], shared=5, confidence=0.5, lift=2.0, offline=5, online=0)]
    )
    first = key.get(RECOMMENDATIONS_URL, {"product": "TEE"}).json()
    assert [item["sku"] for item in first["results"]] == ["SOCKS"]

    # (each request commits in production; here the test's transaction is kept, so run the on-commit hooks)
    with django_capture_on_commit_callbacks(execute=True):
        created = key.post(RULES_URL, {"kind": "pin", "product": "TEE", "target": "CAP"}, format="json")
    assert created.status_code == 201, created.content
    assert [item["sku"] for item in key.get(RECOMMENDATIONS_URL, {"product": "TEE"}).json()["results"]] == [
        "CAP",
        "SOCKS",
    ]
    with django_capture_on_commit_callbacks(execute=True):
        excluded = key.post(RULES_URL, {"kind": "exclude", "product": "TEE", "target": "SOCKS"}, format="json")
    assert excluded.status_code == 201, excluded.content
    assert [item["sku"] for item in key.get(RECOMMENDATIONS_URL, {"product": "TEE"}).json()["results"]] == ["CAP"]


def test_store_and_channel_scopes(key, merchant, catalog):
    StoreFactory(merchant=merchant, code="PAR")
    computed_state(merchant, [])
    rule_create(merchant=merchant, actor=None, kind="pin", product="TEE", target="TOTE")
    rule_create(merchant=merchant, actor=None, kind="pin", product="TEE", target="MUG", channel="online")
    rule_create(merchant=merchant, actor=None, kind="pin", product="TEE", target="CAP", stores=["PAR"])

    def skus(**params):
        response = key.get(RECOMMENDATIONS_URL, {"product": "TEE", **params})
        assert response.status_code == 200, response.content
        return [(item["sku"], item["scope"]) for item in response.json()["results"]]

    assert skus() == [("TOTE", "all")]
    assert skus(channel="online") == [("MUG", "online")]
    assert skus(store="par") == [("CAP", "store:PAR")]  # codes are case-insensitive


def test_customer_identifier_leaves_out_what_they_bought_and_unknown_is_ignored(key, merchant, catalog):
    store = StoreFactory(merchant=merchant, code="PAR", country="FR")
    computed_state(
        merchant,
        [
            together(catalog["TEE"], catalog["SOCKS"], shared=9, confidence=0.6, lift=3.0, offline=9, online=0),
            together(catalog["TEE"], catalog["MUG"], shared=5, confidence=0.4, lift=2.0, offline=5, online=0),
        ],
    )
    order = OrderInput(
        source="api",
        external_id="O-1",
        channel="offline",
        placed_at=datetime(2024, 5, 4, 12, 0, tzinfo=UTC),
        currency="EUR",
        store=store.code,
        lines=[LineInput(sku="SOCKS", quantity=Decimal(1), unit_price=Decimal("12.00"))],
        identifiers=[
            IdentifierInput(kind="email", value="Jane@Example.com"),
            IdentifierInput(kind="phone", value="06 12 34 56 78"),
            IdentifierInput(kind="loyalty", value="L-0042"),
        ],
    )
    assert [outcome.result for outcome in orders_ingest(merchant=merchant, orders=[order])] == ["created"]

    def skus(customer):
        response = key.get(RECOMMENDATIONS_URL, {"product": "TEE", "customer": customer})
        assert response.status_code == 200, response.content
        return [item["sku"] for item in response.json()["results"]]

    for identifier in (" jane@example.COM ", "+33 6 12 34 56 78", "0612345678", "L-0042"):
        assert skus(identifier) == ["MUG"], identifier
    assert skus("nobody@example.com") == ["SOCKS", "MUG"]


def test_customer_without_product_answers_their_next_purchase_list(
    key, merchant, other_merchant, catalog, django_capture_on_commit_callbacks
):
    """``?customer=`` alone: the customer's next-purchase list (bought later after their last order, then the
    fill), cached and refreshed on a rule change; another merchant's customer is unknown here."""
    store = StoreFactory(merchant=merchant, code="PAR", country="FR")
    computed_state(
        merchant,
        [
            {"kind": "bought_later", "product": catalog["SOCKS"], "partner": catalog["CAP"], "score": 0.5,
             "support": 7, "confidence": 0.35, "lift": 4.0},
            {"kind": "bought_later", "product": catalog["SOCKS"], "partner": catalog["TEE"], "score": 0.4,
             "support": 5, "confidence": 0.25, "lift": 3.0},
            trending(catalog["MUG"], 0.9),
            trending(catalog["SOCKS"], 0.8),
        ],
    )  # fmt: skip

    def order(merchant_, code, email):
        return OrderInput(
            source="api", external_id=f"O-{code}", channel="offline", placed_at=timezone.now(), currency="EUR",
            store=code, lines=[LineInput(sku="SOCKS", quantity=Decimal(1), unit_price=Decimal("12.00"))],
            identifiers=[IdentifierInput(kind="email", value=email)],
        )  # fmt: skip

    assert orders_ingest(merchant=merchant, orders=[order(merchant, store.code, "jane@example.com")])[0].result == (
        "created"
    )
    StoreFactory(merchant=other_merchant, code="BER", country="DE")
    ProductFactory(merchant=other_merchant, sku="SOCKS", price=Decimal("12.00"))
    theirs = orders_ingest(merchant=other_merchant, orders=[order(other_merchant, "BER", "max@example.com")])
    assert theirs[0].result == "created"

    response = key.get(RECOMMENDATIONS_URL, {"customer": "Jane@example.com", "limit": 3})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["product"], body["learnt_scope"], body["notes"]) == (None, "all", [])
    assert body["results"][0] == {
        "sku": "CAP",
        "name": "Product CAP",
        "price": "15.00",
        "score": 0.5,
        "reason": {"kind": "bought_later", "customers": 7, "confidence": 0.35, "lift": 4.0, "follows": ["SOCKS"]},
        "scope": "all",
    }
    # SOCKS (bought already) is left out of the fill
    assert [(item["sku"], item["reason"]["kind"]) for item in body["results"]] == [
        ("CAP", "bought_later"),
        ("TEE", "bought_later"),
        ("MUG", "trending"),
    ]
    with django_capture_on_commit_callbacks(execute=True):
        blocked = key.post(RULES_URL, {"kind": "block", "target": "CAP"}, format="json")
    assert blocked.status_code == 201, blocked.content
    again = key.get(RECOMMENDATIONS_URL, {"customer": "Jane@example.com", "limit": 3}).json()
    assert [item["sku"] for item in again["results"]] == ["TEE", "MUG"]

    # Another merchant's customer identifier is unknown here: the fill, and a note.
    unknown = key.get(RECOMMENDATIONS_URL, {"customer": "max@example.com"}).json()
    assert unknown["product"] is None
    assert [item["sku"] for item in unknown["results"]] == ["MUG", "SOCKS"]
    assert unknown["notes"] == ["Unknown customer: trending and bestsellers only."]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, [("required", "product")]),
        ({"customer": ""}, [("required", "product")]),
        ({"customer": "jane@example.com", "store": "NOWHERE"}, [("invalid", "store")]),
        ({"product": "TEE", "limit": 0}, [("min_value", "limit")]),
        ({"product": "TEE", "limit": 51}, [("max_value", "limit")]),
        ({"product": "TEE", "channel": "mail"}, [("invalid_choice", "channel")]),
        ({"product": "TEE", "store": "NOWHERE"}, [("invalid", "store")]),
    ],
    ids=[
        "no-product",
        "blank-customer-no-product",
        "customer-unknown-store",
        "limit-0",
        "limit-51",
        "bad-channel",
        "unknown-store",
    ],
)
def test_recommendations_bad_parameters_answer_400_with_attr(key, catalog, params, expected):
    response = key.get(RECOMMENDATIONS_URL, params)
    assert response.status_code == 400
    assert errors_of(response) == expected


def test_unknown_or_another_merchants_sku_answers_404(key, other_merchant, catalog):
    ProductFactory(merchant=other_merchant, sku="THEIRS")
    for sku in ("NOPE", "THEIRS"):
        response = key.get(RECOMMENDATIONS_URL, {"product": sku})
        assert response.status_code == 404
        assert errors_of(response) == [("not_found", None)]
        assert response.json()["errors"][0]["detail"] == f"Unknown product SKU {sku}."


# --- rules ---------------------------------------------------------------------------------------------


def test_rule_create_answers_201_with_the_rule_and_audits(key, merchant, catalog):
    StoreFactory(merchant=merchant, code="PAR")
    body = {
        "kind": "pin",
        "product": "TEE",
        "target": "TOTE",
        "position": 1,
        "stores": ["par"],
        "starts_on": "2024-06-01",
        "ends_on": "2024-06-30",
    }
    response = key.post(RULES_URL, body, format="json")
    assert response.status_code == 201, response.content
    rule = RecommendationRule.objects.get(merchant=merchant)
    data = response.json()
    assert response["Location"] == data["url"] == f"http://testserver{RULES_URL}{rule.pk}/"
    assert {k: v for k, v in data.items() if k not in ("created_at", "updated_at", "url")} == {
        "id": rule.pk,
        "kind": "pin",
        "product": "TEE",
        "product_name": "Product TEE",
        "category": None,
        "target": "TOTE",
        "target_name": "Product TOTE",
        "position": 1,
        "channel": "all",
        "stores": ["PAR"],
        "starts_on": "2024-06-01",
        "ends_on": "2024-06-30",
        "warnings": [],
    }
    event = AuditEvent.objects.get(action=AuditAction.RECOMMENDATION_RULE_CREATED)
    assert (event.api_key_id, event.actor_id, event.target) == (key.api_key.pk, None, "pin TOTE on TEE")


def test_rule_create_of_an_inactive_product_warns(key, merchant, catalog):
    ProductFactory(merchant=merchant, sku="OLD", active=False, price=Decimal(3))
    response = key.post(RULES_URL, {"kind": "pin", "category": "tops", "target": "OLD"}, format="json")
    assert response.status_code == 201, response.content
    assert (response.json()["category"], response.json()["warnings"]) == (
        "Tops",
        ["OLD is inactive: the pin is kept but not shown while the product is inactive."],
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"kind": "pin", "product": "TEE", "target": "TEE"}, [("invalid", "target")]),
        ({"kind": "pin", "product": "TEE", "target": "NOPE"}, [("invalid", "target")]),
        ({"kind": "pin", "product": "NOPE", "target": "TEE"}, [("invalid", "product")]),
        ({"kind": "pin", "product": "TEE", "target": "TOTE", "stores": ["X"]}, [("invalid", "stores")]),
        (
            {"kind": "pin", "product": "TEE", "target": "TOTE", "starts_on": "2024-06-02", "ends_on": "2024-06-01"},
            [("invalid", "ends_on")],
        ),
        ({"kind": "pin", "product": "TEE", "target": "TOTE", "position": 0}, [("min_value", "position")]),
        ({"kind": "nope", "product": "TEE", "target": "TOTE"}, [("invalid_choice", "kind")]),
        ({"kind": "pin", "product": "TEE"}, [("required", "target")]),
        ({"kind": "block", "category": "Tops", "target": "TOTE"}, [("invalid", "category")]),
    ],
    ids=[
        "self",
        "unknown-target",
        "unknown-product",
        "unknown-store",
        "window",
        "position",
        "kind",
        "no-target",
        "block-with-category",
    ],
)
def test_rule_create_errors_name_the_field(key, catalog, body, expected):
    response = key.post(RULES_URL, body, format="json")
    assert response.status_code == 400, response.content
    assert errors_of(response) == expected
    assert RecommendationRule.objects.count() == 0


def test_duplicate_in_one_scope_is_refused(key, merchant, catalog):
    assert key.post(RULES_URL, {"kind": "pin", "product": "TEE", "target": "TOTE"}, format="json").status_code == 201
    again = key.post(RULES_URL, {"kind": "exclude", "product": "TEE", "target": "TOTE"}, format="json")
    assert again.status_code == 400
    assert again.json()["errors"] == [
        {"code": "invalid", "detail": "TOTE already has a pin rule in this scope (all channels).", "attr": "target"}
    ]


def test_rule_list_filters_and_query_count(key, merchant, catalog, django_assert_num_queries):
    StoreFactory(merchant=merchant, code="PAR")
    rule_create(merchant=merchant, actor=None, kind="block", target="CAP")
    rule_create(merchant=merchant, actor=None, kind="pin", product="TEE", target="TOTE", stores=["PAR"])
    rule_create(merchant=merchant, actor=None, kind="pin", product="TEE", target="SOCKS")
    rule_create(merchant=merchant, actor=None, kind="exclude", category="Tops", target="MUG")
    with django_assert_num_queries(4):  # key, count, rules (+ products, category, target), stores prefetch
        response = key.get(RULES_URL)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 4
    assert [
        (r["kind"], r["product"], r["category"], r["target"], r["position"], r["stores"]) for r in body["results"]
    ] == [
        ("block", None, None, "CAP", None, []),
        ("pin", "TEE", None, "TOTE", 1, ["PAR"]),
        ("pin", "TEE", None, "SOCKS", 1, []),
        ("exclude", None, "Tops", "MUG", None, []),
    ]
    assert [r["target"] for r in key.get(RULES_URL, {"store": "par"}).json()["results"]] == ["TOTE"]
    assert [r["target"] for r in key.get(RULES_URL, {"kind": "exclude"}).json()["results"]] == ["MUG"]
    assert [r["target"] for r in key.get(RULES_URL, {"product": "TEE"}).json()["results"]] == ["TOTE", "SOCKS"]


def test_rule_retrieve_patch_delete(key, merchant, catalog, django_assert_num_queries):
    rules = [rule_create(merchant=merchant, actor=None, kind="pin", product="TEE", target=t) for t in ("TOTE", "SOCKS")]
    url = f"{RULES_URL}{rules[1].pk}/"
    with django_assert_num_queries(3):  # key, rule with its products, stores
        got = key.get(url)
    assert (got.status_code, got.json()["target"], got.json()["position"]) == (200, "SOCKS", 2)

    moved = key.patch(url, {"position": 1}, format="json")
    assert (moved.status_code, moved.json()["position"]) == (200, 1)
    assert RecommendationRule.objects.get(pk=rules[0].pk).position == 2

    bad = key.patch(url, {"target": "TEE"}, format="json")
    assert bad.status_code == 400
    assert errors_of(bad) == [("invalid", "target")]
    assert key.put(url, {"kind": "pin"}, format="json").status_code == 405

    deleted = key.delete(url)
    assert deleted.status_code == 204
    assert list(RecommendationRule.objects.values_list("target__sku", "position")) == [("TOTE", 1)]
    assert AuditEvent.objects.filter(action=AuditAction.RECOMMENDATION_RULE_DELETED).count() == 1


def test_another_merchants_rules_and_jobs_answer_404(key, other_merchant):
    theirs = ProductFactory(merchant=other_merchant, sku="A")
    target = ProductFactory(merchant=other_merchant, sku="B")
    rule = rule_create(merchant=other_merchant, actor=None, kind="pin", product=theirs, target=target)
    job = RecommendationJob.objects.create(merchant=other_merchant)
    for method in ("get", "patch", "delete"):
        response = getattr(key, method)(f"{RULES_URL}{rule.pk}/", {"position": 1}, format="json")
        assert response.status_code == 404, method
        assert errors_of(response) == [("not_found", None)]
    assert key.get(f"/api/v1/recommendations/jobs/{job.pk}/").status_code == 404
    assert key.get(RULES_URL).json()["count"] == 0
    assert RecommendationRule.objects.get(pk=rule.pk).position == 1


# --- compute and jobs ----------------------------------------------------------------------------------


def test_compute_answers_202_with_the_job_and_reuses_an_active_one(key, merchant, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = key.post("/api/v1/recommendations/compute/")
    assert response.status_code == 202, response.content
    job = RecommendationJob.objects.get(merchant=merchant)
    data = response.json()
    assert response["Location"] == data["url"] == f"http://testserver/api/v1/recommendations/jobs/{job.pk}/"
    assert (data["id"], data["status"], data["trigger"], data["progress_percent"]) == (job.pk, "queued", "manual", 0)
    assert len(callbacks) == 1  # the task is sent once the job is committed
    again = key.post("/api/v1/recommendations/compute/")
    assert (again.status_code, again.json()["id"]) == (202, job.pk)

    job.status, job.progress_done, job.progress_step = JobStatus.RUNNING, 3, "pairs online"
    job.save()
    got = key.get(data["url"])
    assert got.status_code == 200
    assert (got.json()["status"], got.json()["progress_percent"], got.json()["progress_step"]) == (
        "running",
        33,
        "pairs online",
    )


# --- scopes and schema -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url", "needs"),
    [
        ("get", RECOMMENDATIONS_URL + "?product=TEE", "recommendations:read"),
        ("get", RULES_URL, "recommendations:read"),
        ("post", RULES_URL, "recommendations:write"),
        ("post", "/api/v1/recommendations/compute/", "recommendations:write"),
    ],
)
def test_scopes_are_required(make_api_client, merchant, catalog, method, url, needs):
    other_scope = ApiScope.RECOMMENDATIONS_READ if needs.endswith("write") else ApiScope.CATALOG_READ
    client = make_api_client(merchant, [other_scope])
    response = getattr(client, method)(url, {}, format="json") if method == "post" else client.get(url)
    assert response.status_code == 403
    assert response.json()["errors"][0]["detail"] == f"This API key lacks the scope(s): {needs}."


def test_read_scope_reads_rules_and_jobs(make_api_client, merchant, catalog):
    client = make_api_client(merchant, [ApiScope.RECOMMENDATIONS_READ])
    job = RecommendationJob.objects.create(merchant=merchant)
    assert client.get(RULES_URL).status_code == 200
    assert client.get(f"/api/v1/recommendations/jobs/{job.pk}/").status_code == 200
    assert client.get(RECOMMENDATIONS_URL, {"product": "TEE"}).status_code == 200


def test_schema_documents_every_operation(client):
    schema = client.get("/api/schema/?format=json").json()
    operations = {
        (path, method): operation["operationId"]
        for path, item in schema["paths"].items()
        if "recommendation" in path
        for method, operation in item.items()
    }
    assert operations == {
        ("/api/v1/recommendations/", "get"): "recommendations_retrieve",
        ("/api/v1/recommendations/compute/", "post"): "recommendations_compute",
        ("/api/v1/recommendations/jobs/{id}/", "get"): "recommendations_job_retrieve",
        ("/api/v1/recommendation-rules/", "get"): "recommendation_rules_list",
        ("/api/v1/recommendation-rules/", "post"): "recommendation_rules_create",
        ("/api/v1/recommendation-rules/{id}/", "get"): "recommendation_rules_retrieve",
        ("/api/v1/recommendation-rules/{id}/", "patch"): "recommendation_rules_partial_update",
        ("/api/v1/recommendation-rules/{id}/", "delete"): "recommendation_rules_destroy",
    }
    parameters = {p["name"] for p in schema["paths"]["/api/v1/recommendations/"]["get"]["parameters"]}
    assert parameters == {"product", "store", "channel", "customer", "limit"}
    components = schema["components"]["schemas"]
    assert set(components["RecommendationItem"]["properties"]) == {"sku", "name", "price", "score", "reason", "scope"}
    assert "202" in schema["paths"]["/api/v1/recommendations/compute/"]["post"]["responses"]
