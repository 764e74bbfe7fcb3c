"""``manage.py seed_demo``: a believable demo merchant, the same on every run."""

from datetime import date
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from catalog.models import Category, Product
from merchants.models import AuditEvent, Membership, Merchant, OnboardingStep, Role
from stores.models import Store

pytestmark = pytest.mark.django_db

User = get_user_model()


@pytest.fixture(autouse=True)
def _development(settings):
    settings.DEBUG = True  # the command refuses to publish demo passwords elsewhere (tested below)


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", "--no-sales", *args, stdout=out)  # sales: tests/sales/test_demo_sales.py
    return out.getvalue()


def snapshot() -> dict:
    """Everything the command writes, including timestamps, so "changes nothing" is exact."""
    return {
        "merchants": list(Merchant.objects.values_list("pk", "slug", "updated_at", "onboarding_step")),
        "users": list(User.objects.order_by("email").values_list("email", "password", "is_staff", "is_superuser")),
        "memberships": list(Membership.objects.order_by("pk").values_list("pk", "user__email", "role")),
        "manager stores": sorted(
            Membership.objects.filter(role=Role.STORE_MANAGER).values_list("stores__code", flat=True)
        ),
        "stores": list(Store.objects.order_by("code").values()),
        "categories": list(Category.objects.order_by("name").values()),
        "products": list(Product.objects.order_by("sku").values()),
        "audit events": AuditEvent.objects.count(),
    }


def test_seed_demo_creates_a_believable_demo_merchant():
    # When the demo is loaded on an empty database
    output = seed()

    # Then the brand, its stores (one closed, some outside Paris time), products and logins exist
    merchant = Merchant.objects.get(slug="demo")
    assert (merchant.name, merchant.currency, merchant.timezone, merchant.onboarding_step) == (
        "Maison Demo",
        "EUR",
        "Europe/Paris",
        OnboardingStep.DONE,
    )
    stores = Store.objects.for_merchant(merchant)
    assert stores.count() == 20
    assert list(stores.filter(status="closed").values_list("code", "closed_on")) == [("LIL-02", date(2024, 6, 30))]
    assert sorted(set(stores.values_list("timezone", flat=True))) == ["Europe/Lisbon", "Europe/London", "Europe/Paris"]
    assert sorted(set(stores.values_list("city", flat=True))) == [
        "Bordeaux",
        "Lille",
        "Lisboa",
        "London",
        "Lyon",
        "Marseille",
        "Nantes",
        "Paris",
        "Puteaux",
        "Toulouse",
    ]
    assert not stores.filter(latitude__isnull=True).exists()
    assert stores.get(code="LON-01").opening_hours["sun"] == ["12:00-18:00"]
    assert stores.get(code="PAR-02").opening_hours["sun"] == []

    products = Product.objects.for_merchant(merchant)
    assert products.count() == 500
    assert Category.objects.for_merchant(merchant).count() == 12
    assert not products.filter(category__isnull=True).exists()
    assert not products.filter(price__isnull=True).exists()
    assert products.values("brand").distinct().count() == 7
    assert products.filter(active=False).count() == 23
    assert products.get(sku="DRS-0001").category.name == "Dresses"

    roles = dict(Membership.objects.filter(merchant=merchant).values_list("user__email", "role"))
    assert roles == {
        "demo@newretail.local": Role.OWNER,
        "analyst@newretail.local": Role.ANALYST,
        "manager@newretail.local": Role.STORE_MANAGER,
    }
    manager = Membership.objects.get(user__email="manager@newretail.local")
    assert sorted(manager.stores.values_list("code", flat=True)) == ["PAR-01", "PAR-02"]
    for email in roles:
        assert User.objects.get(email=email).check_password("newretail-demo")
    staff = User.objects.get(email="staff@newretail.local")
    assert (staff.is_staff, staff.is_superuser, staff.check_password("newretail-demo")) == (True, True, True)

    # And the output says where to go and how to sign in
    assert "Open http://127.0.0.1:8000/ and sign in (password for every demo login: newretail-demo):" in output
    assert "  owner          demo@newretail.local" in output
    assert "Changes: stores created 20, stores closed 1, products created 500" in output


def test_seed_demo_twice_changes_nothing():
    # Given the demo loaded once
    seed()
    before = snapshot()

    # When it is loaded again
    output = seed()

    # Then nothing at all was written: same rows, same timestamps, no new audit events
    assert snapshot() == before
    assert "Nothing to change." in output


def test_seed_demo_is_deterministic():
    seed()
    first = list(Product.objects.order_by("sku").values_list("sku", "name", "category__name", "brand", "price"))

    seed("--reset")

    assert list(Product.objects.order_by("sku").values_list("sku", "name", "category__name", "brand", "price")) == first


def test_seed_demo_keeps_a_changed_password_and_repairs_drift():
    # Given the demo, whose owner changed their password, and a product someone edited
    seed()
    owner = User.objects.get(email="demo@newretail.local")
    owner.set_password("my-own-password")
    owner.save()
    Product.objects.filter(sku="DRS-0001").update(name="Edited")
    Store.objects.filter(code="PAR-01").update(name="Edited")

    # When the demo is loaded again
    output = seed()

    # Then the data is back to the demo values, but the password is the owner's choice
    assert Product.objects.get(sku="DRS-0001").name != "Edited"
    assert Store.objects.get(code="PAR-01").name == "Paris Marais"
    assert "Changes: stores updated 1, products updated 1" in output
    owner.refresh_from_db()
    assert owner.check_password("my-own-password")


def test_seed_demo_reset_recreates_the_merchant_and_passwords():
    # Given the demo with an extra store and a changed password
    seed()
    merchant = Merchant.objects.get(slug="demo")
    Store.objects.create(merchant=merchant, code="EXTRA", name="Extra", country="FR", timezone="Europe/Paris")
    owner = User.objects.get(email="demo@newretail.local")
    owner.set_password("my-own-password")
    owner.save()

    # When it is reset
    output = seed("--reset")

    # Then a new demo merchant replaces the old one, with the same counts and the demo password
    assert output.startswith("Deleted the demo merchant")
    new = Merchant.objects.get(slug="demo")
    assert new.pk != merchant.pk
    assert (Store.objects.for_merchant(new).count(), Product.objects.for_merchant(new).count()) == (20, 500)
    assert Membership.objects.filter(merchant=new).count() == 3
    assert User.objects.filter(email__endswith="@newretail.local").count() == 4
    owner.refresh_from_db()
    assert owner.check_password("newretail-demo")


def test_seed_demo_refuses_to_publish_passwords_outside_development(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="refusing to run with DJANGO_DEBUG=false"):
        seed()

    assert not Merchant.objects.exists()
    seed("--force")
    assert Merchant.objects.filter(slug="demo").exists()
