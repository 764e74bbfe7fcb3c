"""Authentication by API key, scopes, per-key throttling, last use, and the one error format everywhere under
/api/ (401, 403, 404, 405, 406, 415, 429, parse errors, 500)."""

from datetime import timedelta
from unittest import mock

import pytest
from django.test import RequestFactory, override_settings
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.test import APIClient

from config.api import server_error
from merchants.api_auth import api_keys_cache_clear
from merchants.models import ApiKey, ApiScope, MerchantStatus
from merchants.services import api_key_revoke

from ..factories import StoreFactory
from .conftest import errors_of

pytestmark = pytest.mark.django_db

URL = "/api/v1/stores/"
WWW_AUTHENTICATE = 'Bearer realm="api"'


def _client(header: str | None) -> APIClient:
    client = APIClient()
    if header is not None:
        client.credentials(HTTP_AUTHORIZATION=header)
    return client


# --- 401 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("_case", "header", "code", "detail"),
    [
        ("no header", None, "not_authenticated", "Authentication credentials were not provided."),
        (
            "another scheme",
            "Basic dXNlcjpwYXNz",
            "authentication_failed",
            "Unsupported authorization scheme. Send the key as `Authorization: Bearer <key>`.",
        ),
        (
            "bearer without key",
            "Bearer",
            "authentication_failed",
            "Malformed authorization header. Send the key as `Authorization: Bearer <key>`.",
        ),
        (
            "two tokens",
            "Bearer abc def",
            "authentication_failed",
            "Malformed authorization header. Send the key as `Authorization: Bearer <key>`.",
        ),
        ("unknown key", "Bearer nr_notakey", "authentication_failed", "Unknown API key."),
        ("non-ascii key", "Bearer nr_clé", "authentication_failed", "Unknown API key."),
    ],
)
def test_missing_or_bad_credentials_answer_401_with_www_authenticate(_case, header, code, detail):
    response = _client(header).get(URL)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == WWW_AUTHENTICATE
    assert response.json() == {"type": "client_error", "errors": [{"code": code, "detail": detail, "attr": None}]}


def test_bearer_keyword_is_case_insensitive(api_client):
    client = _client(f"bearer {api_client.raw_key}")
    assert client.get(URL).status_code == 200


def test_a_revoked_key_answers_401(api_client):
    api_key_revoke(api_key=api_client.api_key)
    response = api_client.get(URL)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == WWW_AUTHENTICATE
    assert response.json()["errors"] == [
        {"code": "authentication_failed", "detail": "This API key has been revoked.", "attr": None}
    ]


def test_a_suspended_merchants_key_answers_403_with_the_reason(api_client, merchant):
    merchant.status = MerchantStatus.SUSPENDED
    merchant.save()
    response = api_client.get(URL)
    assert response.status_code == 403
    assert response.json()["errors"] == [
        {
            "code": "permission_denied",
            "detail": "Maison Alpha (alpha) is suspended, so its API keys are disabled. "
            "Contact NewRetail support to reactivate it.",
            "attr": None,
        }
    ]


def test_a_browser_session_is_not_an_api_credential(owner_client):
    response = owner_client.get(URL)
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "not_authenticated"


# --- last use -----------------------------------------------------------------------------------


def test_last_used_at_is_recorded_at_most_once_a_minute(api_client):
    key = api_client.api_key
    assert key.last_used_at is None
    api_client.get(URL)
    first = ApiKey.objects.get(pk=key.pk).last_used_at
    assert first is not None
    assert timezone.now() - first < timedelta(seconds=10)

    api_client.get(URL)
    assert ApiKey.objects.get(pk=key.pk).last_used_at == first

    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now() - timedelta(minutes=5))
    api_keys_cache_clear()  # as after API_KEY_CACHE_SECONDS: the row written behind the cache's back is re-read
    api_client.get(URL)
    assert ApiKey.objects.get(pk=key.pk).last_used_at > first


def test_a_refused_key_is_not_marked_used(make_api_client, merchant):
    client = make_api_client(merchant, [ApiScope.CATALOG_READ])
    api_key_revoke(api_key=client.api_key)
    client.get(URL)
    assert ApiKey.objects.get(pk=client.api_key.pk).last_used_at is None


# --- 429 --------------------------------------------------------------------------------------


@override_settings(API_RATE_LIMIT="3/minute")
def test_rate_limit_is_per_key_and_answers_429_with_retry_after(api_client, other_api_client, throttle_cache):
    assert [api_client.get(URL).status_code for _ in range(3)] == [200, 200, 200]

    response = api_client.get(URL)

    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert errors_of(response) == [("throttled", None)]
    assert response.json()["type"] == "client_error"
    assert response.json()["errors"][0]["detail"].startswith("Request was throttled. Expected available in ")
    # another key (another partner) is not affected
    assert other_api_client.get(URL).status_code == 200


def test_default_rate_is_600_per_minute(settings):
    from merchants.api_auth import ApiKeyRateThrottle

    assert settings.API_RATE_LIMIT == "600/minute"
    assert (ApiKeyRateThrottle().num_requests, ApiKeyRateThrottle().duration) == (600, 60)


# --- the error format everywhere ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("_case", "path", "detail"),
    [
        (
            "unknown endpoint",
            "/api/v1/nothing/",
            "No API endpoint at /api/v1/nothing/. The operations are listed at /api/docs/.",
        ),
        (
            "unknown version",
            "/api/v2/stores/",
            "No API endpoint at /api/v2/stores/. The operations are listed at /api/docs/.",
        ),
        (
            "missing trailing slash",
            "/api/v1/stores",
            "No API endpoint at /api/v1/stores. Did you mean /api/v1/stores/? API URLs end with a slash.",
        ),
        (
            "missing trailing slash on the schema",
            "/api/schema",
            "No API endpoint at /api/schema. Did you mean /api/schema/? API URLs end with a slash.",
        ),
    ],
)
@pytest.mark.parametrize("method", ["get", "post", "delete"])
def test_unknown_urls_answer_a_json_404_with_or_without_a_key(api_client, _case, path, detail, method):
    for client in (api_client, APIClient()):
        response = getattr(client, method)(path)
        assert response.status_code == 404
        assert response["Content-Type"] == "application/json"
        assert response.json() == {
            "type": "client_error",
            "errors": [{"code": "not_found", "detail": detail, "attr": None}],
        }


def test_unknown_urls_answer_json_even_without_debug_pages(api_client, settings):
    settings.DEBUG = True  # the technical 404 page would be HTML
    response = api_client.get("/api/v1/nothing/")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "not_found"


def test_method_not_allowed(api_client):
    response = api_client.put(URL, {}, format="json")
    assert response.status_code == 405
    assert response["Allow"] == "GET, POST, HEAD"
    assert response.json() == {
        "type": "client_error",
        "errors": [{"code": "method_not_allowed", "detail": 'Method "PUT" not allowed.', "attr": None}],
    }


def test_options_is_not_offered(api_client):
    response = api_client.options(URL)
    assert response.status_code == 405
    assert errors_of(response) == [("method_not_allowed", None)]


def test_head_works_like_get(api_client, merchant):
    StoreFactory(merchant=merchant)
    response = api_client.head(URL)
    assert response.status_code == 200


def test_malformed_json_is_a_parse_error(api_client):
    response = api_client.post(URL, data='{"code": "A",', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["type"] == "client_error"
    assert errors_of(response) == [("parse_error", None)]
    assert response.json()["errors"][0]["detail"].startswith("JSON parse error - ")


def test_unsupported_media_type(api_client):
    response = api_client.post(URL, data="code=A", content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["errors"] == [
        {"code": "unsupported_media_type", "detail": 'Unsupported media type "text/plain" in request.', "attr": None}
    ]


def test_not_acceptable_is_still_answered_in_json(api_client):
    response = api_client.get(URL, HTTP_ACCEPT="text/html")
    assert response.status_code == 406
    assert response["Content-Type"] == "application/json"
    assert errors_of(response) == [("not_acceptable", None)]


def test_an_unexpected_error_answers_a_json_500_without_details(api_client):
    api_client.raise_request_exception = False
    with mock.patch("stores.api.StoreViewSet.get_queryset", side_effect=RuntimeError("secret internals")):
        response = api_client.get(URL)
    assert response.status_code == 500
    assert response.json() == {
        "type": "server_error",
        "errors": [{"code": "error", "detail": "Server Error (500)", "attr": None}],
    }


def test_handler500_answers_json_under_api_and_html_elsewhere():
    factory = RequestFactory()
    api_response = server_error(factory.get("/api/v1/stores/"))
    assert api_response.status_code == 500
    assert api_response["Content-Type"] == "application/json"
    page = server_error(factory.get("/m/alpha/"))
    assert page.status_code == 500
    assert page["Content-Type"].startswith("text/html")


# --- every API operation declares its scopes (fail closed) ---------------------------------------


def _api_callbacks(patterns, namespace=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _api_callbacks(entry.url_patterns, entry.namespace or namespace)
        elif isinstance(entry, URLPattern) and namespace == "api" and entry.name:
            yield entry.name, entry.callback


def test_every_api_operation_declares_the_scopes_it_needs():
    routes = dict(_api_callbacks(get_resolver().url_patterns))
    assert routes, "no API routes found"
    known = set(ApiScope.values)
    for name, callback in routes.items():
        view_class = callback.cls
        spec = view_class.required_scopes
        assert isinstance(spec, dict), name
        actions = getattr(callback, "actions", None)
        if actions:  # a viewset route: every action it maps
            keys = set(actions.values())
        else:
            keys = {m.upper() for m in view_class.http_method_names if hasattr(view_class, m) and m != "head"}
        assert keys <= set(spec), f"{name}: no scopes declared for {sorted(keys - set(spec))}"
        assert all(set(scopes) and set(scopes) <= known for scopes in spec.values()), name


def test_an_operation_without_declared_scopes_is_refused(api_client, merchant):
    from stores.api import StoreViewSet

    with mock.patch.object(StoreViewSet, "required_scopes", {"retrieve": [ApiScope.STORES_READ]}):
        response = api_client.get(URL)
    assert response.status_code == 403
    assert response.json()["errors"][0]["detail"] == "This operation is not available to API keys."
