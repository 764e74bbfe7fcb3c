"""POST /api/v1/products/bulk/: up to 1,000 products upserted by SKU, validated as a whole, all or nothing."""

from decimal import Decimal

import pytest

from catalog.models import Category, Product
from merchants.models import AuditAction, AuditEvent

from ..factories import CategoryFactory, ProductFactory
from .conftest import errors_of

pytestmark = pytest.mark.django_db

BULK_URL = "/api/v1/products/bulk/"


def rows(count: int, start: int = 0) -> list[dict]:
    return [
        {"sku": f"SKU-{n:04d}", "name": f"Product {n}", "category": f"Cat {n % 3}", "price": f"{n}.50"}
        for n in range(start, start + count)
    ]


def test_creates_and_updates_and_counts(api_client, merchant):
    # Given one existing product and one placeholder
    ProductFactory(merchant=merchant, sku="SKU-0000", name="Old name", price=Decimal("1.00"), category=None)
    ProductFactory(merchant=merchant, sku="SKU-0001", name="Product 1", is_placeholder=True, category=None)
    ProductFactory(
        merchant=merchant,
        sku="SKU-0002",
        name="Product 2",
        price=Decimal("2.50"),
        brand="Keep me",
        category=CategoryFactory(merchant=merchant, name="Cat 2"),
    )

    # When three known and two new SKUs are sent
    response = api_client.post(BULK_URL, {"products": rows(5)}, format="json")

    # Then the new ones are created, the changed ones updated, the identical one left alone
    assert response.status_code == 200, response.json()
    assert response.json() == {"created": 2, "updated": 2, "unchanged": 1}
    products = {p.sku: p for p in Product.objects.filter(merchant=merchant).select_related("category")}
    assert sorted(products) == ["SKU-0000", "SKU-0001", "SKU-0002", "SKU-0003", "SKU-0004"]
    assert (products["SKU-0000"].name, products["SKU-0000"].price) == ("Product 0", Decimal("0.50"))
    assert (products["SKU-0001"].is_placeholder, products["SKU-0001"].category.name) == (False, "Cat 1")
    assert products["SKU-0002"].brand == "Keep me"  # a field not sent is left unchanged
    assert sorted(Category.objects.filter(merchant=merchant).values_list("name", flat=True)) == [
        "Cat 0",
        "Cat 1",
        "Cat 2",
    ]
    event = AuditEvent.objects.get(action=AuditAction.PRODUCTS_IMPORTED)
    assert (event.api_key, event.data["created"], event.data["updated"]) == (api_client.api_key, 2, 2)


def test_a_thousand_products_in_one_request_with_a_bounded_number_of_queries(
    fresh_key, merchant, django_assert_max_num_queries
):
    ProductFactory(merchant=merchant, sku="SKU-0500", name="Existing")
    with django_assert_max_num_queries(15):
        response = fresh_key.post(BULK_URL, {"products": rows(1000)}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json() == {"created": 999, "updated": 1, "unchanged": 0}
    assert Product.objects.filter(merchant=merchant).count() == 1000


def test_more_than_a_thousand_is_refused_with_a_clear_error(api_client):
    response = api_client.post(BULK_URL, {"products": rows(1001)}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "type": "validation_error",
        "errors": [
            {
                "code": "max_length",
                "detail": "A bulk request takes at most 1,000 products: split it into several.",
                "attr": "products.non_field_errors",
            }
        ],
    }
    assert not Product.objects.exists()


@pytest.mark.parametrize(
    ("_case", "body", "expected"),
    [
        ("empty list", {"products": []}, [("min_length", "products.non_field_errors")]),
        ("no envelope", [{"sku": "A", "name": "A"}], [("invalid", "non_field_errors")]),
        ("products not a list", {"products": "A"}, [("not_a_list", "products.non_field_errors")]),
    ],
)
def test_malformed_requests(api_client, _case, body, expected):
    response = api_client.post(BULK_URL, body, format="json")
    assert response.status_code == 400
    assert errors_of(response) == expected


def test_every_invalid_item_is_reported_with_its_index_and_nothing_is_written(api_client, merchant):
    ProductFactory(merchant=merchant, sku="KNOWN", name="Known", price=Decimal("5.00"))
    items = rows(20)
    items[3]["price"] = "-2"
    items[12]["price"] = "abc"
    items[12]["sku"] = "BAD\nSKU"
    items[15] = {"sku": "NEW-NAMELESS"}
    items[17] = {"sku": "KNOWN", "price": "6.00"}  # a known SKU may omit the name
    items[19]["sku"] = "SKU-0004"  # a duplicate of item 4

    response = api_client.post(BULK_URL, {"products": items}, format="json")

    assert response.status_code == 400
    assert response.json()["type"] == "validation_error"
    assert errors_of(response) == [
        ("min_value", "products.3.price"),
        ("invalid_sku", "products.12.sku"),
        ("invalid", "products.12.price"),
    ]
    assert Product.objects.filter(merchant=merchant).count() == 1
    assert Product.objects.get(sku="KNOWN").price == Decimal("5.00")


def test_duplicates_and_new_skus_without_a_name_are_reported_by_index(api_client, merchant):
    ProductFactory(merchant=merchant, sku="KNOWN", name="Known", price=Decimal("5.00"))
    items = [*rows(3), {"sku": "NEW-NAMELESS"}, {"sku": "KNOWN", "price": "6.00"}, {"sku": "SKU-0001", "name": "X"}]

    response = api_client.post(BULK_URL, {"products": items}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"code": "required", "detail": "SKU NEW-NAMELESS is a new product: give it a name.", "attr": "products.3.name"},
        {"code": "duplicate", "detail": "SKU SKU-0001 is already at index 1.", "attr": "products.5.sku"},
    ]
    assert Product.objects.filter(merchant=merchant).count() == 1


def test_a_known_sku_may_omit_its_name(api_client, merchant):
    ProductFactory(merchant=merchant, sku="KNOWN", name="Known", price=Decimal("5.00"))
    response = api_client.post(BULK_URL, {"products": [{"sku": "KNOWN", "price": "6.00"}]}, format="json")
    assert response.json() == {"created": 0, "updated": 1, "unchanged": 0}
    product = Product.objects.get(sku="KNOWN")
    assert (product.name, product.price) == ("Known", Decimal("6.00"))


def test_another_merchants_sku_creates_our_own_product(api_client, merchant, other_merchant):
    theirs = ProductFactory(merchant=other_merchant, sku="SHARED", name="Theirs")
    response = api_client.post(BULK_URL, {"products": [{"sku": "SHARED"}]}, format="json")
    assert response.status_code == 400  # for us it's a new SKU, so it needs a name
    response = api_client.post(BULK_URL, {"products": [{"sku": "SHARED", "name": "Ours"}]}, format="json")
    assert response.json() == {"created": 1, "updated": 0, "unchanged": 0}
    theirs.refresh_from_db()
    assert theirs.name == "Theirs"
    assert Product.objects.get(merchant=merchant, sku="SHARED").name == "Ours"


def test_get_on_the_bulk_url_is_405(api_client):
    response = api_client.get(BULK_URL)
    assert response.status_code == 405
    assert response["Allow"] == "POST"
