import pytest
from django.urls import reverse

from merchants.models import MerchantStatus, OnboardingStep, Role

from ..factories import MembershipFactory, MerchantFactory, ProductFactory, StoreFactory
from .conftest import page_url

pytestmark = pytest.mark.django_db


def test_home_of_a_new_merchant_says_what_to_do_next(owner_client, merchant):
    # Given a merchant that finished onboarding but has nothing yet
    merchant.onboarding_step = OnboardingStep.DONE
    merchant.save()

    response = owner_client.get(page_url("home", merchant))

    body = response.content.decode()
    assert response.status_code == 200
    assert (response.context["store_count"], response.context["product_count"]) == (0, 0)
    assert "What to do next" in body
    for text in ("Add your stores.", "Add your products.", "Connect your sales data.", "Invite colleagues."):
        assert text in body
    assert reverse("stores:store-create", kwargs={"merchant_slug": "alpha"}) in body
    assert reverse("catalog:product-create", kwargs={"merchant_slug": "alpha"}) in body
    assert page_url("apikey-create", merchant) in body
    assert page_url("invitation-create", merchant) in body
    assert "Finish setting up" not in body


def test_home_counts_stores_and_products(owner_client, merchant, other_merchant):
    StoreFactory.create_batch(3, merchant=merchant)
    ProductFactory.create_batch(2, merchant=merchant)
    StoreFactory(merchant=other_merchant)

    response = owner_client.get(page_url("home", merchant))

    assert (response.context["store_count"], response.context["product_count"]) == (3, 2)
    assert "3 stores so far." in response.content.decode()


def test_store_manager_counts_only_assigned_stores_and_sees_no_checklist(store_manager_client, merchant):
    StoreFactory(merchant=merchant)  # not assigned

    response = store_manager_client.get(page_url("home", merchant))

    assert response.context["store_count"] == 1
    assert "What to do next" not in response.content.decode()
    assert "Sales dashboards appear here once sales data flows in" in response.content.decode()


@pytest.mark.parametrize(
    ("step", "text"),
    [
        pytest.param(OnboardingStep.PROFILE, "step 1 of 4: <strong>Brand profile</strong>", id="profile"),
        pytest.param(OnboardingStep.STORES, "step 2 of 4: <strong>Stores</strong>", id="stores"),
        pytest.param(OnboardingStep.DATA, "step 3 of 4: <strong>Connect sales data</strong>", id="data"),
    ],
)
def test_home_nudges_managers_back_to_unfinished_onboarding(owner_client, merchant, step, text):
    merchant.onboarding_step = step
    merchant.save()

    body = owner_client.get(page_url("home", merchant)).content.decode()

    assert "Finish setting up Maison Alpha" in body
    assert text in body
    assert page_url("onboarding", merchant) in body


def test_home_tells_analysts_the_brand_is_being_set_up(analyst_client, merchant):
    body = analyst_client.get(page_url("home", merchant)).content.decode()

    assert "is still being set up by its owners and admins" in body
    assert page_url("onboarding", merchant) not in body


def test_home_redirect_picks_the_last_used_merchant_then_the_first(owner_client, merchant):
    # Given a user of two merchants ("Maison Alpha" sorts before "Zeta")
    zeta = MerchantFactory(name="Zeta", slug="zeta")
    MembershipFactory(merchant=zeta, user=owner_client.user, role=Role.ANALYST)

    # Then with no history, the first by name
    assert owner_client.get(reverse("merchants:home-redirect")).url == page_url("home", merchant)
    # and after working on Zeta, Zeta
    owner_client.get(page_url("home", zeta))
    assert owner_client.get(reverse("merchants:home-redirect")).url == page_url("home", zeta)


def test_home_redirect_prefers_an_active_merchant(owner_client, merchant):
    merchant.status = MerchantStatus.SUSPENDED
    merchant.save()
    zeta = MerchantFactory(name="Zeta", slug="zeta")
    MembershipFactory(merchant=zeta, user=owner_client.user, role=Role.ANALYST)

    assert owner_client.get(reverse("merchants:home-redirect")).url == page_url("home", zeta)


def test_home_redirect_without_membership_offers_to_create_a_brand(client):
    user = MembershipFactory().user
    user.memberships.all().delete()
    client.force_login(user)

    response = client.get(reverse("merchants:home-redirect"))

    assert response.url == reverse("merchants:merchant-create")


def test_landing_sends_visitors_to_login_and_members_to_their_merchant(client, owner_client):
    assert client.get("/").url == reverse("accounts:login")
    assert owner_client.get("/").url == reverse("merchants:home-redirect")


def test_switcher_lists_the_users_merchants(owner_client, merchant):
    zeta = MerchantFactory(name="Zeta", slug="zeta")
    MembershipFactory(merchant=zeta, user=owner_client.user, role=Role.ANALYST)

    body = owner_client.get(page_url("home", merchant)).content.decode()

    assert page_url("home", zeta) in body
    assert "Zeta <small>(Analyst)</small>" in body
    assert reverse("merchants:merchant-create") in body


def test_merchant_create_makes_the_user_owner_and_opens_onboarding(owner_client):
    response = owner_client.post(reverse("merchants:merchant-create"), {"name": "  Second Brand "})

    membership = owner_client.user.memberships.get(merchant__slug="second-brand")
    assert (membership.role, membership.merchant.name) == (Role.OWNER, "Second Brand")
    assert response.url == reverse("merchants:onboarding", kwargs={"merchant_slug": "second-brand"})
    assert owner_client.get(reverse("merchants:home-redirect")).url == page_url("home", membership.merchant)


def test_merchant_create_requires_a_name(owner_client):
    response = owner_client.post(reverse("merchants:merchant-create"), {"name": "  "})

    assert response.status_code == 200
    assert response.context["form"].errors == {"name": ["This field is required."]}


def test_merchant_create_requires_login(client):
    assert client.get(reverse("merchants:merchant-create")).url.startswith(reverse("accounts:login"))
