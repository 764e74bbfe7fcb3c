"""Catalog services: single products, the set-based upsert by SKU, categories and the CSV import."""

from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from catalog.imports import PRODUCT_CSV_SPEC
from catalog.models import Category, Product
from catalog.services import (
    category_create,
    product_create,
    product_update,
    products_import_csv,
    products_upsert,
)
from merchants.models import AuditAction, AuditEvent

from ..factories import CategoryFactory, ProductFactory, UserFactory

pytestmark = pytest.mark.django_db

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "products.csv"


def _products(merchant):
    return list(
        Product.objects.for_merchant(merchant)
        .order_by("sku")
        .values_list("sku", "name", "category__name", "brand", "price", "active", "is_placeholder")
    )


# --- single products ------------------------------------------------------------------------


def test_product_create_with_a_category_name_creates_or_reuses_it(merchant):
    CategoryFactory(merchant=merchant, name="Shoes")
    actor = UserFactory()

    first = product_create(
        merchant=merchant, actor=actor, sku=" SNK-42 ", name="Sneakers", category="shoes", price="69.50"
    )
    second = product_create(merchant=merchant, actor=actor, sku="HAT-1", name="Hat", category="Hats", price=None)

    assert (first.sku, first.category.name, first.price) == ("SNK-42", "Shoes", Decimal("69.50"))
    assert second.category.name == "Hats"
    assert sorted(Category.objects.for_merchant(merchant).values_list("name", flat=True)) == ["Hats", "Shoes"]
    assert list(AuditEvent.objects.values_list("action", "target")) == [
        (AuditAction.PRODUCT_CREATED, "HAT-1"),
        (AuditAction.PRODUCT_CREATED, "SNK-42"),
    ]


@pytest.mark.parametrize(
    ("case", "fields", "expected"),
    [
        ("negative price", {"price": "-1"}, {"price": ["A price cannot be negative (-1)."]}),
        (
            "price abc",
            {"price": "abc"},
            {"price": ["“abc” is not a price: give a number like 12.50, without currency symbol."]},
        ),
        ("empty name", {"name": " "}, {"name": ["This field cannot be blank."]}),
        (
            "control character in SKU",
            {"sku": "A\tB"},
            {"sku": ["An SKU cannot contain line breaks, tabs or other control characters."]},
        ),
        ("SKU taken", {"sku": "TAKEN"}, {"sku": ["The SKU TAKEN is already used by another product."]}),
    ],
)
def test_product_create_rejects_bad_input(merchant, case, fields, expected):
    ProductFactory(merchant=merchant, sku="TAKEN")
    with pytest.raises(ValidationError) as excinfo:
        product_create(merchant=merchant, actor=None, **{"sku": "NEW", "name": "New", **fields})
    assert excinfo.value.message_dict == expected, case


def test_sku_is_case_sensitive(merchant):
    ProductFactory(merchant=merchant, sku="ab-1")
    assert product_create(merchant=merchant, actor=None, sku="AB-1", name="Other").sku == "AB-1"


def test_product_update_audits_changes_and_refuses_another_merchants_category(merchant, other_merchant):
    product = ProductFactory(merchant=merchant, sku="P1", name="Old", price=Decimal("10.00"), is_placeholder=True)

    product_update(product=product, actor=None, name="New", price=Decimal("10"), is_placeholder=False)

    product.refresh_from_db()
    assert (product.name, product.price, product.is_placeholder) == ("New", Decimal("10.00"), False)
    assert AuditEvent.objects.get().data == {"changed": {"name": ["Old", "New"], "is_placeholder": [True, False]}}
    with pytest.raises(ValidationError) as excinfo:
        product_update(product=product, actor=None, category=CategoryFactory(merchant=other_merchant))
    assert excinfo.value.message_dict == {"category": ["Unknown category."]}


def test_category_create_is_unique_regardless_of_case(merchant):
    category_create(merchant=merchant, name="  Knitwear ", actor=None)
    with pytest.raises(ValidationError) as excinfo:
        category_create(merchant=merchant, name="KNITWEAR", actor=None)
    assert excinfo.value.message_dict == {"name": ["The category Knitwear already exists."]}


# --- upsert ---------------------------------------------------------------------------------


def test_products_upsert_creates_updates_and_skips_unchanged(merchant):
    CategoryFactory(merchant=merchant, name="Shoes")
    ProductFactory(merchant=merchant, sku="KEEP", name="Keep", category=None, brand="", price=Decimal("5.00"))
    ProductFactory(merchant=merchant, sku="CHANGE", name="Before", category=None, brand="", price=Decimal("5.00"))
    ProductFactory(
        merchant=merchant,
        sku="PLACEHOLDER",
        name="PLACEHOLDER",
        category=None,
        brand="",
        price=None,
        is_placeholder=True,
    )
    rows = [
        {"sku": "KEEP", "name": "Keep", "category": None, "brand": "", "price": Decimal("5"), "active": True},
        {"sku": "CHANGE", "name": "After", "category": "shoes", "brand": "", "price": Decimal("6"), "active": True},
        {"sku": "PLACEHOLDER", "name": "PLACEHOLDER", "category": None, "brand": "", "price": None, "active": True},
        {"sku": "NEW", "name": "New", "category": "Hats", "brand": "Acme", "price": Decimal("1.5"), "active": False},
    ]

    result = products_upsert(merchant=merchant, rows=rows, actor=None)

    assert (result.created, result.updated, result.unchanged) == (1, 2, 1)
    assert (result.created_skus, result.updated_skus) == (["NEW"], ["CHANGE", "PLACEHOLDER"])
    assert _products(merchant) == [
        ("CHANGE", "After", "Shoes", "", Decimal("6.00"), True, False),
        ("KEEP", "Keep", None, "", Decimal("5.00"), True, False),
        ("NEW", "New", "Hats", "Acme", Decimal("1.50"), False, False),
        ("PLACEHOLDER", "PLACEHOLDER", None, "", None, True, False),
    ]
    event = AuditEvent.objects.get()
    assert (event.action, event.data) == (
        AuditAction.PRODUCTS_IMPORTED,
        {"source": "upsert", "rows": 4, "created": 1, "updated": 2, "unchanged": 1},
    )


def test_products_upsert_leaves_fields_that_rows_omit(merchant):
    ProductFactory(merchant=merchant, sku="P1", name="Old", brand="Acme", price=Decimal("9.00"))
    products_upsert(merchant=merchant, rows=[{"sku": "P1", "price": Decimal("8")}], actor=None)
    product = Product.objects.get(sku="P1")
    assert (product.name, product.brand, product.price) == ("Old", "Acme", Decimal("8.00"))


@pytest.mark.parametrize(
    ("case", "rows", "message"),
    [
        ("duplicate SKU", [{"sku": "A", "name": "a"}, {"sku": "A", "name": "b"}], "row 1: SKU A is also on row 0."),
        (
            "negative price",
            [{"sku": "A", "name": "a", "price": Decimal("-1")}],
            "row 0 (SKU A): A price cannot be negative (-1).",
        ),
        ("new product without a name", [{"sku": "A", "price": Decimal("1")}], "New products need a name: A."),
    ],
)
def test_products_upsert_rejects_bad_rows(merchant, case, rows, message):
    with pytest.raises(ValidationError) as excinfo:
        products_upsert(merchant=merchant, rows=rows, actor=None)
    assert excinfo.value.messages == [message], case
    assert not Product.objects.exists()


def test_products_upsert_of_1000_rows_takes_a_handful_of_queries(merchant, django_assert_num_queries):
    # Given 500 existing products and 1,000 rows (500 updates, 500 new) in 20 categories, 10 of them new
    Product.objects.bulk_create([Product(merchant=merchant, sku=f"SKU-{i:04d}", name=f"Old {i}") for i in range(500)])
    Category.objects.bulk_create([Category(merchant=merchant, name=f"Category {i}") for i in range(10)])
    rows = [
        {
            "sku": f"SKU-{i:04d}",
            "name": f"Product {i}",
            "category": f"Category {i % 20}",
            "brand": "Acme",
            "price": Decimal("9.90"),
            "active": True,
        }
        for i in range(1000)
    ]

    # When upserted: savepoint, products lookup, categories lookup, insert of new categories, their read-back,
    # one INSERT ... ON CONFLICT, the audit row, release savepoint
    with django_assert_num_queries(8):
        result = products_upsert(merchant=merchant, rows=rows, actor=None)

    # Then
    assert (result.created, result.updated, result.unchanged) == (500, 500, 0)
    assert Product.objects.for_merchant(merchant).count() == 1000
    assert Category.objects.for_merchant(merchant).count() == 20
    assert Product.objects.get(sku="SKU-0013").category.name == "Category 13"

    # And a second identical upsert writes nothing
    with django_assert_num_queries(5):
        again = products_upsert(merchant=merchant, rows=rows, actor=None)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1000)


# --- CSV import -----------------------------------------------------------------------------


def test_products_import_then_reimport_is_unchanged(merchant):
    data = EXAMPLE.read_bytes()
    first = products_import_csv(merchant=merchant, file=data, actor=None)
    before = _products(merchant)
    second = products_import_csv(merchant=merchant, file=data, actor=None)

    assert first.errors == []
    assert (first.created, second.created, second.updated, second.unchanged) == (13, 0, 0, 13)
    assert _products(merchant) == before
    assert (
        "JNS-SLM-32-IND",
        'Slim jeans 32", indigo',
        "Denim",
        "Atelier Bleu",
        Decimal("95.00"),
        True,
        False,
    ) in before
    assert EXAMPLE.read_text(encoding="utf-8").splitlines()[0] == ",".join(PRODUCT_CSV_SPEC.column_names)


def test_products_import_reports_every_error_and_writes_nothing(merchant):
    ProductFactory(merchant=merchant, sku="KEEP", name="Keep")
    before = _products(merchant)
    data = (
        b"sku,name,category,brand,price,active\n"
        b"KEEP,Renamed,,,1,yes\n"
        b"P1,Bad price,,,abc,\n"
        b"P2,Negative,,,-3,\n"
        b'P3,Comma price,,,"12,50",\n'
        b"P4,Bad active,,,,maybe\n"
        b"P5,Too precise,,,1.234,\n"
        b"P6,,,,,\n"
        b"DUP,One,,,,\n"
        b"DUP,Two,,,,\n"
    )

    result = products_import_csv(merchant=merchant, file=data, actor=None)

    assert result.applied is False
    assert [(e.row, e.column, e.value, e.reason) for e in result.errors] == [
        (3, "price", "abc", "“abc” is not a price: give a number like 12.50, without currency symbol."),
        (4, "price", "-3", "A price cannot be negative (-3)."),
        (5, "price", "12,50", "“12,50” is not a price: use a dot for decimals (12.50), no thousands separator."),
        (6, "active", "maybe", "“maybe” is not yes or no: use true/false, yes/no or 1/0."),
        (7, "price", "1.234", "“1.234” has more than 2 decimal places."),
        (8, "name", "", "A value is required."),
        (9, "sku", "DUP", "Duplicate sku DUP: also on row 10. Each sku may appear only once in a file."),
        (10, "sku", "DUP", "Duplicate sku DUP: also on row 9. Each sku may appear only once in a file."),
    ]
    assert _products(merchant) == before
    assert AuditEvent.objects.count() == 0


def test_products_import_skip_invalid_and_formula_text(merchant):
    data = b'sku,name\nF1,"=HYPERLINK(""http://evil.example"",""x"")"\nF2,\n'
    result = products_import_csv(merchant=merchant, file=data, actor=None, mode="skip-invalid")
    assert (result.created, result.invalid_rows) == (1, 1)
    assert Product.objects.get(sku="F1").name == '=HYPERLINK("http://evil.example","x")'
    event = AuditEvent.objects.get()
    assert (event.action, event.data["source"], event.data["created"], event.data["error_count"]) == (
        AuditAction.PRODUCTS_IMPORTED,
        "csv",
        1,
        1,
    )


def test_products_import_of_a_binary_file(merchant):
    result = products_import_csv(merchant=merchant, file=b"\x89PNG\r\n\x1a\n\x00\x00", actor=None)
    assert result.errors[0].reason.startswith("This is a PNG image, not a CSV file.")


def test_import_products_command(merchant, tmp_path, capsys):
    path = tmp_path / "products.csv"
    path.write_bytes(b"sku,name,price\nA,Alpha,1.00\nB,Beta,abc\n")
    with pytest.raises(CommandError, match="1 error"):
        call_command("import_products", "--merchant", merchant.slug, str(path))
    assert "row 3, column price:" in capsys.readouterr().err
    assert not Product.objects.exists()
    call_command("import_products", "--merchant", merchant.slug, str(EXAMPLE))
    assert "13 row(s) read: 13 created, 0 updated, 0 unchanged." in capsys.readouterr().out
