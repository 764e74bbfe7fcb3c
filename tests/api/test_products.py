"""/api/v1/products/ and /api/v1/categories/: list with filters, create, retrieve by SKU (with "/"), PUT/PATCH;
tenancy, scopes, audit."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from catalog.models import Category, Product
from merchants.models import ApiScope, AuditAction, AuditEvent

from ..factories import CategoryFactory, ProductFactory
from .conftest import errors_of

pytestmark = pytest.mark.django_db

LIST_URL = "/api/v1/products/"
NEW_PRODUCT = {
    "sku": "TEE/M/WHITE",
    "name": "Organic tee",
    "category": "T-shirts",
    "brand": "Alpha",
    "price": "29.90",
    "active": True,
}


def test_url_names_match_the_paths():
    assert reverse("api:product-list") == LIST_URL
    assert reverse("api:product-detail", kwargs={"sku": "A/B"}) == "/api/v1/products/A/B/"
    assert reverse("api:product-bulk") == "/api/v1/products/bulk/"
    assert reverse("api:category-list") == "/api/v1/categories/"


# --- reads ------------------------------------------------------------------------------------


def test_list_returns_own_products_with_price_as_decimal_string(fresh_key, merchant, other_merchant):
    shoes = CategoryFactory(merchant=merchant, name="Shoes")
    ProductFactory(merchant=merchant, sku="B-1", name="Boot", category=shoes, brand="Acme", price=Decimal("89.90"))
    ProductFactory(merchant=merchant, sku="A-1", name="Gift card", category=None, price=None, active=False)
    ProductFactory(merchant=other_merchant, sku="A-0", name="Not mine")

    response = fresh_key.get(LIST_URL)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    boot = body["results"][1]
    assert {key: boot[key] for key in boot if not key.endswith("_at")} == {
        "sku": "B-1",
        "name": "Boot",
        "category": "Shoes",
        "brand": "Acme",
        "price": "89.90",
        "active": True,
        "is_placeholder": False,
    }
    gift = body["results"][0]
    assert (gift["sku"], gift["category"], gift["price"], gift["active"]) == ("A-1", None, None, False)


def test_list_query_count_does_not_grow_with_rows(fresh_key, merchant, django_assert_num_queries):
    ProductFactory.create_batch(3, merchant=merchant)
    with django_assert_num_queries(3):  # key, count, page (categories joined)
        assert fresh_key.get(LIST_URL).json()["count"] == 3
    ProductFactory.create_batch(4, merchant=merchant)
    with django_assert_num_queries(3):
        assert len(fresh_key.get(LIST_URL).json()["results"]) == 7


@pytest.mark.parametrize(
    ("_case", "query", "expected"),
    [
        ("category name, any case", "category=shoes", ["BOOT-1", "SNEAK-1"]),
        ("inactive", "active=false", ["SNEAK-1"]),
        ("active", "active=true", ["BOOT-1", "MUG-1", "X-UNKNOWN"]),
        ("placeholders", "is_placeholder=true", ["X-UNKNOWN"]),
        ("search sku", "search=boot", ["BOOT-1"]),
        ("search brand", "search=hoMe", ["MUG-1"]),
        ("exact sku", "sku=MUG-1", ["MUG-1"]),
        ("updated since", "updated_since=2030-01-01T00:00:00Z", ["MUG-1"]),
        ("combined", "category=Shoes&active=true", ["BOOT-1"]),
    ],
)
def test_list_filters(api_client, merchant, _case, query, expected):
    shoes = CategoryFactory(merchant=merchant, name="Shoes")
    ProductFactory(merchant=merchant, sku="BOOT-1", category=shoes, brand="Acme")
    ProductFactory(merchant=merchant, sku="SNEAK-1", category=shoes, brand="Acme", active=False)
    ProductFactory(merchant=merchant, sku="MUG-1", brand="Alpha Home")
    ProductFactory(merchant=merchant, sku="X-UNKNOWN", brand="", is_placeholder=True)
    Product.objects.filter(sku="MUG-1").update(updated_at=timezone.now() + timedelta(days=3650))
    response = api_client.get(f"{LIST_URL}?{query}")
    assert response.status_code == 200, response.json()
    assert [product["sku"] for product in response.json()["results"]] == expected


def test_list_rejects_a_malformed_updated_since(api_client):
    response = api_client.get(f"{LIST_URL}?updated_since=yesterday")
    assert response.status_code == 400
    assert errors_of(response) == [("invalid", "updated_since")]


@pytest.mark.parametrize("sku", ["TEE/M/WHITE", "A B", "50% off", "odd?#sku"])
def test_retrieve_by_sku_with_slashes_spaces_and_reserved_characters(api_client, merchant, sku):
    from urllib.parse import quote

    ProductFactory(merchant=merchant, sku=sku, name="Found")
    response = api_client.get(f"{LIST_URL}{quote(sku, safe='/')}/")
    assert response.status_code == 200
    assert (response.json()["sku"], response.json()["name"]) == (sku, "Found")
    encoded_slash = api_client.get(f"{LIST_URL}{quote(sku, safe='')}/")
    assert encoded_slash.json()["sku"] == sku


def test_retrieve_query_count(fresh_key, merchant, django_assert_num_queries):
    ProductFactory.create_batch(2, merchant=merchant)
    ProductFactory(merchant=merchant, sku="MUG", category=CategoryFactory(merchant=merchant, name="Home"))
    with django_assert_num_queries(2):  # key, product joined with its category
        response = fresh_key.get(f"{LIST_URL}MUG/")
    assert response.json()["category"] == "Home"


def test_skus_are_case_sensitive(api_client, merchant):
    ProductFactory(merchant=merchant, sku="ab-1")
    assert api_client.get(f"{LIST_URL}AB-1/").status_code == 404
    assert api_client.get(f"{LIST_URL}ab-1/").status_code == 200


def test_another_merchants_sku_is_404_like_a_missing_one(api_client, other_merchant):
    ProductFactory(merchant=other_merchant, sku="THEIRS")
    theirs, missing = api_client.get(f"{LIST_URL}THEIRS/"), api_client.get(f"{LIST_URL}NOPE/")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json()


def test_categories_list_with_parent_and_product_count(fresh_key, merchant, other_merchant, django_assert_num_queries):
    clothing = CategoryFactory(merchant=merchant, name="Clothing")
    shirts = CategoryFactory(merchant=merchant, name="Shirts", parent=clothing)
    ProductFactory.create_batch(2, merchant=merchant, category=shirts)
    CategoryFactory(merchant=other_merchant, name="Theirs")
    with django_assert_num_queries(3):
        response = fresh_key.get("/api/v1/categories/")
    assert response.status_code == 200
    assert response.json()["results"] == [
        {"id": clothing.pk, "name": "Clothing", "parent": None, "product_count": 0},
        {"id": shirts.pk, "name": "Shirts", "parent": "Clothing", "product_count": 2},
    ]


# --- writes -----------------------------------------------------------------------------------


def test_create_product_creates_its_category_and_audits_with_the_key(api_client, merchant):
    response = api_client.post(LIST_URL, NEW_PRODUCT, format="json")

    assert response.status_code == 201, response.json()
    assert response["Location"] == "http://testserver/api/v1/products/TEE/M/WHITE/"
    assert response.json()["price"] == "29.90"
    product = Product.objects.get(merchant=merchant, sku="TEE/M/WHITE")
    assert (product.name, product.category.name, product.price, product.active) == (
        "Organic tee",
        "T-shirts",
        Decimal("29.90"),
        True,
    )
    event = AuditEvent.objects.get(action=AuditAction.PRODUCT_CREATED)
    assert (event.merchant, event.api_key, event.actor, event.target) == (
        merchant,
        api_client.api_key,
        None,
        "TEE/M/WHITE",
    )


def test_create_uses_an_existing_category_case_insensitively(api_client, merchant):
    shirts = CategoryFactory(merchant=merchant, name="T-Shirts")
    api_client.post(LIST_URL, NEW_PRODUCT, format="json")
    assert Product.objects.get(sku="TEE/M/WHITE").category == shirts
    assert Category.objects.filter(merchant=merchant).count() == 1


@pytest.mark.parametrize(
    ("_case", "change", "expected"),
    [
        ("negative price", {"price": "-1"}, [("min_value", "price")]),
        ("three decimals", {"price": "1.999"}, [("max_decimal_places", "price")]),
        ("price as text", {"price": "cheap"}, [("invalid", "price")]),
        ("control character in SKU", {"sku": "A\tB"}, [("invalid_sku", "sku")]),
        ("SKU too long", {"sku": "x" * 65}, [("max_length", "sku")]),
        ("no name", {"name": ""}, [("blank", "name")]),
        ("active not a boolean", {"active": "perhaps"}, [("invalid", "active")]),
    ],
)
def test_create_reports_each_invalid_field(api_client, _case, change, expected):
    response = api_client.post(LIST_URL, {**NEW_PRODUCT, **change}, format="json")
    assert response.status_code == 400
    assert errors_of(response) == expected
    assert not Product.objects.exists()


def test_create_refuses_an_existing_sku(api_client, merchant):
    ProductFactory(merchant=merchant, sku="TEE/M/WHITE")
    response = api_client.post(LIST_URL, NEW_PRODUCT, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"code": "unique", "detail": "A product with SKU TEE/M/WHITE already exists.", "attr": "sku"}
    ]


def test_put_replaces_the_product_and_keeps_the_sku(api_client, merchant):
    ProductFactory(merchant=merchant, sku="TEE/M/WHITE", brand="Old brand", price=Decimal("10.00"))
    response = api_client.put(f"{LIST_URL}TEE/M/WHITE/", {"sku": "CHANGED", "name": "Renamed"}, format="json")
    assert response.status_code == 200, response.json()
    product = Product.objects.get(merchant=merchant)
    assert (product.sku, product.name, product.brand, product.price, product.category, product.active) == (
        "TEE/M/WHITE",
        "Renamed",
        "",
        None,
        None,
        True,
    )
    event = AuditEvent.objects.get(action=AuditAction.PRODUCT_UPDATED)
    assert event.api_key == api_client.api_key


def test_patch_changes_only_the_fields_sent(api_client, merchant):
    product = ProductFactory(merchant=merchant, sku="MUG", brand="Home", price=Decimal("10.00"))
    response = api_client.patch(f"{LIST_URL}MUG/", {"price": "12.5"}, format="json")
    assert response.status_code == 200
    assert response.json()["price"] == "12.50"
    product.refresh_from_db()
    assert (product.price, product.brand, product.category_id is not None) == (Decimal("12.50"), "Home", True)


def test_delete_is_not_offered(api_client, merchant):
    ProductFactory(merchant=merchant, sku="MUG")
    response = api_client.delete(f"{LIST_URL}MUG/")
    assert response.status_code == 405
    assert errors_of(response) == [("method_not_allowed", None)]
    assert Product.objects.filter(sku="MUG").exists()


@pytest.mark.parametrize("method", ["put", "patch"])
def test_writes_to_another_merchants_product_are_404(api_client, other_merchant, method):
    product = ProductFactory(merchant=other_merchant, sku="THEIRS", name="Theirs")
    response = getattr(api_client, method)(f"{LIST_URL}THEIRS/", {"name": "Hijacked"}, format="json")
    assert response.status_code == 404
    product.refresh_from_db()
    assert product.name == "Theirs"


@pytest.mark.parametrize(
    ("_case", "scopes", "method", "path", "status_code"),
    [
        ("list with read", [ApiScope.CATALOG_READ], "get", LIST_URL, 200),
        ("categories with read", [ApiScope.CATALOG_READ], "get", "/api/v1/categories/", 200),
        ("list with stores scopes", [ApiScope.STORES_READ, ApiScope.STORES_WRITE], "get", LIST_URL, 403),
        ("categories with write only", [ApiScope.CATALOG_WRITE], "get", "/api/v1/categories/", 403),
        ("create with read", [ApiScope.CATALOG_READ], "post", LIST_URL, 403),
        ("update with read", [ApiScope.CATALOG_READ], "patch", f"{LIST_URL}MUG/", 403),
        ("bulk with read", [ApiScope.CATALOG_READ], "post", f"{LIST_URL}bulk/", 403),
        ("create with write", [ApiScope.CATALOG_WRITE], "post", LIST_URL, 201),
        ("bulk with write", [ApiScope.CATALOG_WRITE], "post", f"{LIST_URL}bulk/", 200),
    ],
)
def test_scope_matrix(make_api_client, merchant, _case, scopes, method, path, status_code):
    ProductFactory(merchant=merchant, sku="MUG")
    client = make_api_client(merchant, scopes)
    payload = {"products": [NEW_PRODUCT]} if path.endswith("bulk/") else NEW_PRODUCT
    response = getattr(client, method)(path, payload, format="json")
    assert response.status_code == status_code, response.json()
    if status_code == 403:
        needed = "catalog:read" if method == "get" else "catalog:write"
        assert response.json()["errors"][0]["detail"] == f"This API key lacks the scope(s): {needed}."
