"""The OpenAPI schema (exact, valid, warning-free) and the interactive docs served without any external host."""

import re

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db

OPERATIONS = {
    ("/api/v1/stores/", "get"): ("stores_list", "stores:read"),
    ("/api/v1/stores/", "post"): ("stores_create", "stores:write"),
    ("/api/v1/stores/{code}/", "get"): ("stores_retrieve", "stores:read"),
    ("/api/v1/stores/{code}/", "put"): ("stores_update", "stores:write"),
    ("/api/v1/stores/{code}/", "patch"): ("stores_partial_update", "stores:write"),
    ("/api/v1/stores/{code}/close/", "post"): ("stores_close", "stores:write"),
    ("/api/v1/products/", "get"): ("products_list", "catalog:read"),
    ("/api/v1/products/", "post"): ("products_create", "catalog:write"),
    ("/api/v1/products/{sku}/", "get"): ("products_retrieve", "catalog:read"),
    ("/api/v1/products/{sku}/", "put"): ("products_update", "catalog:write"),
    ("/api/v1/products/{sku}/", "patch"): ("products_partial_update", "catalog:write"),
    ("/api/v1/products/bulk/", "post"): ("products_bulk_upsert", "catalog:write"),
    ("/api/v1/categories/", "get"): ("categories_list", "catalog:read"),
    ("/api/v1/orders/", "get"): ("orders_list", "sales:read"),
    ("/api/v1/orders/{source}/{external_id}/", "get"): ("orders_retrieve", "sales:read"),
    ("/api/v1/orders/batch/", "post"): ("orders_batch", "sales:write"),
    ("/api/v1/imports/", "get"): ("imports_list", "sales:read"),
    ("/api/v1/imports/", "post"): ("imports_create", "sales:write"),
    ("/api/v1/imports/{id}/", "get"): ("imports_retrieve", "sales:read"),
    ("/api/v1/imports/{id}/errors/", "get"): ("imports_errors_list", "sales:read"),
    ("/api/v1/recommendations/", "get"): ("recommendations_retrieve", "recommendations:read"),
    ("/api/v1/recommendations/compute/", "post"): ("recommendations_compute", "recommendations:write"),
    ("/api/v1/recommendations/jobs/{id}/", "get"): ("recommendations_job_retrieve", "recommendations:read"),
    ("/api/v1/recommendation-rules/", "get"): ("recommendation_rules_list", "recommendations:read"),
    ("/api/v1/recommendation-rules/", "post"): ("recommendation_rules_create", "recommendations:write"),
    ("/api/v1/recommendation-rules/{id}/", "get"): ("recommendation_rules_retrieve", "recommendations:read"),
    ("/api/v1/recommendation-rules/{id}/", "patch"): ("recommendation_rules_partial_update", "recommendations:write"),
    ("/api/v1/recommendation-rules/{id}/", "delete"): ("recommendation_rules_destroy", "recommendations:write"),
    ("/api/v1/analytics/summary/", "get"): ("analytics_summary", "analytics:read"),
    ("/api/v1/analytics/timeseries/", "get"): ("analytics_timeseries", "analytics:read"),
    ("/api/v1/analytics/stores/", "get"): ("analytics_stores", "analytics:read"),
    ("/api/v1/analytics/products/", "get"): ("analytics_products", "analytics:read"),
    ("/api/v1/reports/", "post"): ("reports_create", "reports:write"),
    ("/api/v1/reports/{id}/", "get"): ("reports_retrieve", "reports:read"),
    ("/api/v1/reports/{id}/download/", "get"): ("reports_download", "reports:read"),
    ("/api/v1/reports/{id}/cancel/", "post"): ("reports_cancel", "reports:write"),
}


@pytest.fixture(scope="module")
def schema():
    from django.test import Client

    response = Client().get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def test_spectacular_validates_without_warnings(tmp_path):
    # --fail-on-warn turns any warning (unresolvable type, missing hint...) into a failure
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert (tmp_path / "schema.yaml").read_text().startswith("openapi: 3.0.3")


def test_schema_lists_exactly_the_operations_with_their_scope(schema):
    found = {
        (path, method): operation["operationId"]
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    }
    assert found == {key: operation_id for key, (operation_id, _) in OPERATIONS.items()}
    for (path, method), (_, scope) in OPERATIONS.items():
        operation = schema["paths"][path][method]
        assert operation["security"] == [{"ApiKey": []}]
        assert f"Scope: `{scope}`" in operation["description"], (path, method)


def test_bearer_security_scheme(schema):
    scheme = schema["components"]["securitySchemes"]["ApiKey"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")


@pytest.mark.parametrize(("path", "method"), sorted(OPERATIONS))
def test_every_operation_documents_its_errors_in_the_one_format(schema, path, method):
    responses = schema["paths"][path][method]["responses"]
    assert {"401", "403", "405", "429", "500"} <= set(responses)
    if "{" in path or (method == "get" and not path.startswith("/api/v1/analytics/")):
        assert "404" in responses  # a missing object or page (analytics answers have neither)
    if method in ("post", "put", "patch"):
        assert "400" in responses
    assert responses["401"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorResponse401"
    }
    error_401 = schema["components"]["schemas"]["ErrorResponse401"]
    assert set(error_401["properties"]) == {"type", "errors"}


def test_bodyless_operations_document_no_parse_error(schema):
    assert "400" not in schema["paths"]["/api/v1/stores/{code}/"]["get"]["responses"]
    assert "415" not in schema["paths"]["/api/v1/categories/"]["get"]["responses"]
    assert "415" in schema["paths"]["/api/v1/stores/"]["post"]["responses"]


def test_requests_and_responses_use_separate_serializers(schema):
    create = schema["paths"]["/api/v1/stores/"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/StoreInputRequest"
    }
    assert create["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/StoreOutput"
    }
    components = schema["components"]["schemas"]
    assert "status" in components["StoreOutput"]["required"]
    assert components["ProductOutput"]["properties"]["price"] == {
        "type": "string",
        "format": "decimal",
        "pattern": r"^-?\d{0,10}(?:\.\d{0,2})?$",
        "nullable": True,
        "description": "Decimal string in the merchant's currency.",
    }


def test_list_operations_are_paginated_and_document_their_filters(schema):
    stores = schema["paths"]["/api/v1/stores/"]["get"]
    assert {p["name"] for p in stores["parameters"]} == {"page", "page_size", "status", "country", "region", "search"}
    products = schema["paths"]["/api/v1/products/"]["get"]
    assert {p["name"] for p in products["parameters"]} == {
        "page",
        "page_size",
        "sku",
        "category",
        "active",
        "is_placeholder",
        "search",
        "updated_since",
    }
    paginated = stores["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert paginated == "#/components/schemas/PaginatedStoreOutputList"


def test_bulk_errors_name_the_item_index(schema):
    error_component = schema["components"]["schemas"]["ProductsBulkUpsertError"]
    attrs = set(error_component["discriminator"]["mapping"])
    assert {"products.non_field_errors", "products.INDEX.price", "products.INDEX.sku"} <= attrs


EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["'](?:https?:)?//""", re.IGNORECASE)


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_docs_pages_load_every_asset_from_this_server(client, path):
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert EXTERNAL.findall(html) == []
    assert "googleapis" not in html
    assert "/static/drf_spectacular_sidecar/" in html
    assert "/api/schema/" in html


def test_swagger_ui_does_not_call_the_public_validator(client):
    html = client.get("/api/docs/").content.decode()
    assert '"validatorUrl": null' in html
