"""Catalogue pages: product list/search/filters, detail, create, edit, import, categories; roles and isolation."""

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from catalog.models import Category, Product
from merchants.models import AuditAction, AuditEvent

from ..factories import CategoryFactory, ProductFactory

pytestmark = pytest.mark.django_db


def url(name, merchant, *args):
    return reverse(f"catalog:{name}", args=[merchant.slug, *args])


FORM = {
    "sku": " TSH-M-BLU ",
    "name": "T-shirt, blue, M",
    "category": "",
    "new_category": "T-shirts",
    "brand": "Alpha",
    "price": "29.90",
    "active": "on",
}


@pytest.fixture
def catalogue(merchant):
    shirts = CategoryFactory(merchant=merchant, name="T-shirts")
    shoes = CategoryFactory(merchant=merchant, name="Shoes")
    ProductFactory(merchant=merchant, sku="TSH-1", name="Basic tee", category=shirts, price=Decimal("19.90"))
    ProductFactory(merchant=merchant, sku="SNK-1", name="Sneaker", category=shoes, price=Decimal("69.00"), active=False)
    ProductFactory(merchant=merchant, sku="UNKNOWN-9", name="UNKNOWN-9", category=None, price=None, is_placeholder=True)
    return {"shirts": shirts, "shoes": shoes}


def test_product_list_with_constant_queries(analyst_client, merchant, catalogue, django_assert_num_queries):
    ProductFactory(sku="THEIRS-1")  # another merchant's
    # session, user, membership, count, page with categories, category filter choices, memberships menu
    with django_assert_num_queries(7):
        response = analyst_client.get(url("product-list", merchant))
    assert response.status_code == 200
    assert [p.sku for p in response.context["products"]] == ["SNK-1", "TSH-1", "UNKNOWN-9"]
    page = response.content.decode()
    assert "THEIRS-1" not in page
    assert "Needs review" in page
    assert "Add a product" not in page


@pytest.mark.parametrize(
    ("case", "query", "expected"),
    [
        ("search SKU", {"q": "snk"}, ["SNK-1"]),
        ("search name", {"q": "tee"}, ["TSH-1"]),
        ("active", {"active": "yes"}, ["TSH-1", "UNKNOWN-9"]),
        ("inactive", {"active": "no"}, ["SNK-1"]),
        ("needs review", {"needs_review": "on"}, ["UNKNOWN-9"]),
        ("sort by price descending", {"sort": "-price"}, ["UNKNOWN-9", "SNK-1", "TSH-1"]),
    ],
)
def test_product_list_filters(owner_client, merchant, catalogue, case, query, expected):
    response = owner_client.get(url("product-list", merchant), query)
    assert [p.sku for p in response.context["products"]] == expected, case


def test_product_list_category_filter_only_offers_own_categories(owner_client, merchant, catalogue, other_merchant):
    theirs = CategoryFactory(merchant=other_merchant, name="Theirs")
    response = owner_client.get(url("product-list", merchant), {"category": catalogue["shoes"].pk})
    assert [p.sku for p in response.context["products"]] == ["SNK-1"]
    # Another merchant's category id is not a valid choice: the filter is ignored
    response = owner_client.get(url("product-list", merchant), {"category": theirs.pk})
    assert len(response.context["products"]) == 3
    assert "Theirs" not in response.content.decode()


def test_product_list_empty_state(owner_client, merchant):
    page = owner_client.get(url("product-list", merchant)).content.decode()
    assert "No products yet." in page
    assert "Import from CSV" in page


def test_product_detail_by_sku_with_slash(analyst_client, merchant, django_assert_num_queries):
    ProductFactory(merchant=merchant, sku="TS/RED/M", name="Red tee", price=Decimal("12.00"))
    detail_url = url("product-detail", merchant, "TS/RED/M")
    assert detail_url == "/m/alpha/catalog/products/TS/RED/M/"
    # session, user, membership, product with category, memberships menu
    with django_assert_num_queries(5):
        response = analyst_client.get(detail_url)
    assert response.status_code == 200
    assert "12.00 EUR" in response.content.decode()


def test_other_merchants_product_is_404(owner_client, other_merchant):
    ProductFactory(merchant=other_merchant, sku="THEIRS")
    assert owner_client.get(reverse("catalog:product-detail", args=["alpha", "THEIRS"])).status_code == 404
    assert owner_client.post(reverse("catalog:product-detail", args=["alpha", "THEIRS"])).status_code == 404
    assert owner_client.get(reverse("catalog:product-update", args=["alpha", "THEIRS"])).status_code == 404
    assert owner_client.get(url("product-list", other_merchant)).status_code == 404


def test_create_product_with_a_new_category(owner_client, merchant):
    response = owner_client.post(url("product-create", merchant), FORM)
    product = Product.objects.get(merchant=merchant)
    assert response["Location"] == url("product-detail", merchant, "TSH-M-BLU")
    assert (product.sku, product.category.name, product.price, product.active) == (
        "TSH-M-BLU",
        "T-shirts",
        Decimal("29.90"),
        True,
    )
    assert AuditEvent.objects.get().action == AuditAction.PRODUCT_CREATED


def test_create_product_errors(owner_client, merchant):
    ProductFactory(merchant=merchant, sku="TSH-M-BLU")
    response = owner_client.post(url("product-create", merchant), {**FORM, "price": "-1", "name": ""})
    assert response.context["form"].errors == {
        "sku": ["The SKU TSH-M-BLU is already used by another product."],
        "name": ["This field is required."],
        "price": ["Ensure this value is greater than or equal to 0."],
    }


def test_create_refuses_another_merchants_category(owner_client, merchant, other_merchant):
    theirs = CategoryFactory(merchant=other_merchant)
    response = owner_client.post(url("product-create", merchant), {**FORM, "new_category": "", "category": theirs.pk})
    assert response.context["form"].errors == {
        "category": ["Select a valid choice. That choice is not one of the available choices."]
    }


def test_edit_placeholder_marks_it_reviewed(owner_client, merchant, catalogue):
    response = owner_client.post(
        url("product-update", merchant, "UNKNOWN-9"),
        {
            "sku": "UNKNOWN-9",
            "name": "Linen shirt",
            "category": catalogue["shirts"].pk,
            "brand": "",
            "price": "59.00",
            "active": "on",
        },
    )
    product = Product.objects.get(sku="UNKNOWN-9")
    assert response["Location"] == url("product-detail", merchant, "UNKNOWN-9")
    assert (product.name, product.category, product.price, product.is_placeholder) == (
        "Linen shirt",
        catalogue["shirts"],
        Decimal("59.00"),
        False,
    )
    assert AuditEvent.objects.get().data["changed"]["is_placeholder"] == [True, False]


def test_product_import_page(owner_client, merchant):
    page = owner_client.get(url("product-import", merchant)).content.decode()
    assert "<code>price</code>" in page
    template = owner_client.get(url("product-import-template", merchant))
    assert template.content == b"sku,name,category,brand,price,active\r\n"
    upload = SimpleUploadedFile("products.csv", b"sku,name,price\nA,Alpha,abc\n", content_type="text/csv")
    response = owner_client.post(url("product-import", merchant), {"file": upload, "mode": "all-or-nothing"})
    assert '<td class="num">2</td><td>price</td><td><code>abc</code></td>' in response.content.decode()
    upload = SimpleUploadedFile("products.csv", b"sku,name,price\nA,Alpha,1.50\n", content_type="text/csv")
    response = owner_client.post(url("product-import", merchant), {"file": upload, "mode": "all-or-nothing"})
    assert response["Location"] == url("product-list", merchant)
    assert Product.objects.get(sku="A").price == Decimal("1.50")


def test_category_list_counts_products_and_creates(owner_client, merchant, catalogue, django_assert_num_queries):
    with django_assert_num_queries(6):
        response = owner_client.get(url("category-list", merchant))
    assert [(c.name, c.product_count) for c in response.context["categories"]] == [("Shoes", 1), ("T-shirts", 1)]

    created = owner_client.post(url("category-list", merchant), {"name": "Knitwear"})
    assert created["Location"] == url("category-list", merchant)
    duplicate = owner_client.post(url("category-list", merchant), {"name": "shoes"})
    assert duplicate.context["form"].errors == {"name": ["The category Shoes already exists."]}
    assert sorted(Category.objects.for_merchant(merchant).values_list("name", flat=True)) == [
        "Knitwear",
        "Shoes",
        "T-shirts",
    ]


WRITE_PAGES = [
    ("create", "get", "product-create", ()),
    ("create post", "post", "product-create", ()),
    ("edit", "get", "product-update", ("TSH-1",)),
    ("edit post", "post", "product-update", ("TSH-1",)),
    ("import", "get", "product-import", ()),
    ("import post", "post", "product-import", ()),
    ("category create", "post", "category-list", ()),
]


@pytest.mark.parametrize("actor", ["analyst_client", "store_manager_client"])
@pytest.mark.parametrize(("case", "method", "name", "args"), WRITE_PAGES)
def test_readers_cannot_write(request, merchant, catalogue, actor, case, method, name, args):
    client = request.getfixturevalue(actor)
    response = getattr(client, method)(
        url(name, merchant, *args), {"name": "X", "sku": "X"} if method == "post" else None
    )
    assert response.status_code == 403, case
    assert AuditEvent.objects.count() == 0
    assert Category.objects.count() == 2


@pytest.mark.parametrize("actor", ["owner_client", "admin_member_client", "analyst_client", "store_manager_client"])
def test_every_role_reads_the_catalogue(request, merchant, catalogue, actor):
    client = request.getfixturevalue(actor)
    for name, args in (
        ("product-list", ()),
        ("product-detail", ("TSH-1",)),
        ("category-list", ()),
        ("product-import-template", ()),
    ):
        assert client.get(url(name, merchant, *args)).status_code == 200, name
