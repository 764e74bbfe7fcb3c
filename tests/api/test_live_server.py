"""The partner API over real HTTP (a live server and urllib): headers, JSON bodies, errors and the docs assets."""

import json
import re
import urllib.error
import urllib.request

import pytest

from merchants.models import ApiScope, AuditAction, AuditEvent
from merchants.services import api_key_create
from stores.models import Store

from ..factories import MerchantFactory

pytestmark = pytest.mark.django_db(transaction=True)


def call(url: str, *, method: str = "GET", key: str | None = None, body=None, headers=None):
    """(status, headers, parsed JSON or text) of one HTTP request; error statuses are answers, not exceptions."""
    data = json.dumps(body).encode() if body is not None else None
    assert url.startswith("http://")
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})  # noqa: S310
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (our own live server)
            status, response_headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, response_headers, raw = error.code, error.headers, error.read()
    content_type = response_headers.get("Content-Type", "")
    if content_type.split(";")[0].endswith("json"):
        return status, response_headers, json.loads(raw)
    return status, response_headers, raw.decode() if content_type.startswith("text/html") else raw


@pytest.fixture
def partner_key():
    merchant = MerchantFactory(slug="live", name="Live Brand")
    _, raw = api_key_create(merchant=merchant, name="live", scopes=[ApiScope.STORES_READ, ApiScope.STORES_WRITE])
    return merchant, raw


def test_a_partner_creates_and_reads_a_store_over_http(live_server, partner_key):
    merchant, key = partner_key
    base = f"{live_server.url}/api/v1"

    status, headers, body = call(
        f"{base}/stores/",
        method="POST",
        key=key,
        body={"code": "web-1", "name": "Web store", "country": "FR", "latitude": "48.85", "longitude": "2.35"},
    )
    assert status == 201, body
    assert headers["Location"] == f"{live_server.url}/api/v1/stores/WEB-1/"
    assert (body["code"], body["latitude"], body["timezone"]) == ("WEB-1", "48.850000", "Europe/Paris")

    status, _, listing = call(f"{base}/stores/?search=web", key=key)
    assert status == 200
    assert [store["code"] for store in listing["results"]] == ["WEB-1"]

    assert Store.objects.get(merchant=merchant).name == "Web store"
    assert AuditEvent.objects.get(action=AuditAction.STORE_CREATED).api_key.merchant == merchant


def test_errors_over_http_are_json_with_their_headers(live_server, partner_key, settings, throttle_cache):
    _, key = partner_key
    base = f"{live_server.url}/api"

    status, headers, body = call(f"{base}/v1/stores/")
    assert (status, headers["WWW-Authenticate"], body["errors"][0]["code"]) == (
        401,
        'Bearer realm="api"',
        "not_authenticated",
    )

    status, headers, body = call(f"{base}/v1/products/", key=key)
    assert (status, body["errors"][0]["detail"]) == (403, "This API key lacks the scope(s): catalog:read.")

    status, headers, body = call(f"{base}/v1/nowhere", key=key, method="POST", body={})
    assert (status, headers["Content-Type"], body["type"]) == (404, "application/json", "client_error")

    status, _, body = call(f"{base}/v1/stores/", key=key, method="DELETE")
    assert (status, body["errors"][0]["code"]) == (405, "method_not_allowed")

    settings.API_RATE_LIMIT = "1/minute"
    call(f"{base}/v1/stores/", key=key)
    status, headers, body = call(f"{base}/v1/stores/", key=key)
    assert status == 429
    assert int(headers["Retry-After"]) > 0
    assert body["errors"][0]["code"] == "throttled"


def test_docs_and_their_assets_are_served_by_this_server(live_server):
    status, headers, html = call(f"{live_server.url}/api/docs/")
    assert status == 200
    assets = re.findall(r"""(?:src|href)="([^"]+)\"""", html)
    assert assets, html
    for asset in assets:
        assert asset.startswith("/static/"), asset
        asset_status, _, _ = call(f"{live_server.url}{asset}")
        assert asset_status == 200, asset
    status, _, schema = call(f"{live_server.url}/api/schema/?format=json")
    assert status == 200
    assert schema["info"]["title"] == "NewRetail partner API"
