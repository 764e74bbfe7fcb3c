"""The recommendations API's fast path (``recommendations.api.recommendations_fast``): a cache hit answered before
DRF, from the process's key cache and one Redis round trip — and everything it must not weaken: a rule change or a
new computation shows on the very next request, a revoked key or a suspended merchant is refused on the very next
request, scopes, tenancy, the throttle (counted once), the error format and the exact same bytes and headers."""

from __future__ import annotations

from decimal import Decimal
from unittest import mock

import pytest
from django.http import QueryDict
from django.test import override_settings
from django.utils import timezone

from merchants import api_auth
from merchants.models import ApiKey, ApiScope, MerchantStatus
from merchants.services import api_key_revoke, merchant_set_status, merchant_update
from recommendations.api import RecommendationView, fast_params
from recommendations.rules import rule_create, rule_delete
from recommendations.serializers import RecommendationQuerySerializer
from recommendations.services import recommendations_cache_invalidate

from ..api.conftest import errors_of
from ..factories import CategoryFactory, ProductFactory
from .helpers import computed_state, together

pytestmark = pytest.mark.django_db

URL = "/api/v1/recommendations/"


@pytest.fixture
def key(api_client):
    """``api_client`` whose key was just used (no ``last_used_at`` write)."""
    api_client.api_key.last_used_at = timezone.now()
    api_client.api_key.save(update_fields=["last_used_at"])
    return api_client


@pytest.fixture
def catalog(merchant):
    tops = CategoryFactory(merchant=merchant, name="Tops")
    prices = {"TEE": "29.90", "TOTE": "19.00", "SOCKS": "12.00", "CAP": "15.00"}
    products = {
        sku: ProductFactory(merchant=merchant, sku=sku, name=f"Product {sku}", category=tops, price=Decimal(price))
        for sku, price in prices.items()
    }
    computed_state(
        merchant,
        [together(products["TEE"], products["SOCKS"], shared=5, confidence=0.5, lift=2.0, offline=5, online=0)],
    )
    return products


def skus(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["sku"] for item in response.json()["results"]]


def test_a_hit_is_answered_before_drf_with_the_same_bytes_and_headers(key, catalog, django_assert_num_queries):
    first = key.get(URL, {"product": "TEE", "limit": 3})  # a miss: DRF computes and stores the answer
    assert skus(first) == ["SOCKS"]

    with (
        mock.patch.object(RecommendationView, "dispatch", side_effect=AssertionError("reached DRF")),
        django_assert_num_queries(0),
    ):
        hit = key.get(URL, {"product": "TEE", "limit": 3})

    assert hit.status_code == 200
    assert hit.content == first.content
    assert dict(hit.headers) == dict(first.headers)
    assert hit["Content-Type"] == "application/json"
    assert hit["Allow"] == "GET, HEAD"


def test_the_stack_still_answers_what_the_fast_path_leaves(key, catalog):
    key.get(URL, {"product": "TEE"})  # cached
    assert key.get(URL, {"product": "TEE"}, HTTP_HOST="evil.example").status_code == 400  # ALLOWED_HOSTS
    assert key.get(URL, {"product": "TEE"}, HTTP_ACCEPT="text/html").status_code == 406  # DRF's negotiation
    assert key.get(URL, {"product": "TEE", "limit": "0"}).json()["errors"][0]["attr"] == "limit"
    assert key.head(URL, {"product": "TEE"}).status_code == 200


def test_a_rule_change_shows_on_the_very_next_request(key, merchant, catalog, django_capture_on_commit_callbacks):
    assert skus(key.get(URL, {"product": "TEE"})) == ["SOCKS"]
    with mock.patch.object(RecommendationView, "dispatch", side_effect=AssertionError("reached DRF")):
        assert skus(key.get(URL, {"product": "TEE"})) == ["SOCKS"]  # cached

    # (each request commits in production; here the test's transaction is kept, so run the on-commit hooks)
    with django_capture_on_commit_callbacks(execute=True):
        pin = rule_create(merchant=merchant, actor=None, kind="pin", product="TEE", target="CAP")
    assert skus(key.get(URL, {"product": "TEE"})) == ["CAP", "SOCKS"]

    with django_capture_on_commit_callbacks(execute=True):
        rule_create(merchant=merchant, actor=None, kind="exclude", product="TEE", target="SOCKS")
    assert skus(key.get(URL, {"product": "TEE"})) == ["CAP"]

    with django_capture_on_commit_callbacks(execute=True):
        rule_delete(merchant=merchant, rule=pin, actor=None)
    assert skus(key.get(URL, {"product": "TEE"})) == []


def test_a_new_computation_shows_on_the_very_next_request(key, merchant, catalog):
    assert skus(key.get(URL, {"product": "TEE"})) == ["SOCKS"]
    computed_state(
        merchant,
        [together(catalog["TEE"], catalog["TOTE"], shared=7, confidence=0.7, lift=3.0, offline=7, online=0)],
    )
    recommendations_cache_invalidate(merchant.pk)  # what the computation's switch does (services)
    assert skus(key.get(URL, {"product": "TEE"})) == ["TOTE"]


def test_revocation_and_suspension_are_seen_at_once(key, merchant, catalog):
    # Given a cached key and a cached answer: the second request is a fast hit
    assert key.get(URL, {"product": "TEE"}).status_code == 200
    with mock.patch.object(RecommendationView, "dispatch", side_effect=AssertionError("reached DRF")):
        assert key.get(URL, {"product": "TEE"}).status_code == 200

    # When the merchant is suspended, then reactivated: refused at once, accepted at once
    merchant_set_status(merchant=merchant, status=MerchantStatus.SUSPENDED, actor=None, reason="Unpaid")
    refused = key.get(URL, {"product": "TEE"})
    assert refused.status_code == 403
    assert errors_of(refused) == [("permission_denied", None)]
    merchant_set_status(merchant=merchant, status=MerchantStatus.ACTIVE, actor=None)
    assert key.get(URL, {"product": "TEE"}).status_code == 200

    # When the key is revoked: the very next request is refused, with the usual 401
    api_key_revoke(api_key=ApiKey.objects.get(pk=key.api_key.pk))
    response = key.get(URL, {"product": "TEE"})
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json()["errors"] == [
        {"code": "authentication_failed", "detail": "This API key has been revoked.", "attr": None}
    ]


def test_a_merchant_edit_reaches_the_cached_key_at_once(key, merchant, catalog):
    assert key.get(URL, {"product": "TEE"}).status_code == 200
    merchant_update(merchant=merchant, actor=None, name="Maison Beta")
    merchant_set_status(merchant=merchant, status=MerchantStatus.SUSPENDED, actor=None)
    assert key.get(URL, {"product": "TEE"}).json()["errors"][0]["detail"].startswith("Maison Beta (alpha)")


def test_a_key_revoked_behind_the_services_back_is_refused_after_the_key_cache_ttl(key, catalog):
    # Given a cached key
    assert key.get(URL, {"product": "TEE"}).status_code == 200
    # When a write bypasses the services (no generation bump): still accepted while the cached row is young...
    ApiKey.objects.filter(pk=key.api_key.pk).update(revoked_at=timezone.now())
    assert key.get(URL, {"product": "TEE"}).status_code == 200
    # ...and refused once it is older than API_KEY_CACHE_SECONDS (simulated: a TTL of zero)
    assert api_auth.API_KEY_CACHE_SECONDS == 30
    with mock.patch.object(api_auth, "API_KEY_CACHE_SECONDS", 0):
        assert key.get(URL, {"product": "TEE"}).status_code == 401


def test_scopes_and_tenancy_hold_on_the_fast_path(key, merchant, other_merchant, catalog, make_api_client):
    assert key.get(URL, {"product": "TEE"}).status_code == 200  # the answer is cached
    # a key of the same merchant without the scope: 403 (its key is cached after its first request)
    catalog_only = make_api_client(merchant, [ApiScope.CATALOG_READ])
    for _ in range(2):
        response = catalog_only.get(URL, {"product": "TEE"})
        assert response.status_code == 403
        assert response.json()["errors"][0]["detail"] == "This API key lacks the scope(s): recommendations:read."
    # another merchant's key never sees this merchant's cached answer: TEE is unknown there
    other = make_api_client(other_merchant, [ApiScope.RECOMMENDATIONS_READ])
    for _ in range(2):
        response = other.get(URL, {"product": "TEE"})
        assert response.status_code == 404
        assert errors_of(response) == [("not_found", None)]


@override_settings(API_RATE_LIMIT="3/minute")
def test_the_throttle_counts_fast_hits_once_and_answers_429(key, catalog):
    statuses = [key.get(URL, {"product": "TEE"}).status_code for _ in range(3)]  # a miss, then two fast hits
    assert statuses == [200, 200, 200]
    response = key.get(URL, {"product": "TEE"})
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert errors_of(response) == [("throttled", None)]
    assert response.json()["errors"][0]["detail"].startswith("Request was throttled. Expected available in ")


@pytest.mark.parametrize(
    ("query", "fast"),
    [
        ("product=TEE", True),
        ("product=TEE&limit=50", True),
        ("product=TEE&limit=007", True),
        ("product=T%C3%89E&store=par&channel=offline&customer=jane%40example.com&limit=1", True),
        ("product=TEE&store=&customer=", True),
        ("product=TEE&channel=online", True),
        # anything else is left to DRF: its answer (trimmed, "10.0") or its error
        ("product=", False),
        ("product=%20TEE", False),
        ("product=TEE&limit=0", False),
        ("product=TEE&limit=51", False),
        ("product=TEE&limit=10.0", False),
        ("product=TEE&limit=ten", False),
        ("product=TEE&channel=", False),
        ("product=TEE&channel=web", False),
        ("product=TEE&product=CAP", False),
        ("product=TEE&format=json", False),
        ("product=TE%00E", False),
        ("product=TEE&customer=" + "x" * 321, False),
        ("store=PAR", False),
    ],
)
def test_fast_params_are_exactly_what_the_serializer_validates(query, fast):
    params = fast_params(QueryDict(query))
    if not fast:
        assert params is None
        return
    serializer = RecommendationQuerySerializer(data=QueryDict(query))
    assert serializer.is_valid(), serializer.errors
    assert params == dict(serializer.validated_data)
