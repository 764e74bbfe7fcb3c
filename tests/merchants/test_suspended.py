import pytest
from django.urls import reverse

from merchants.models import MerchantStatus, Role
from merchants.services import merchant_set_status

from ..factories import MembershipFactory, MerchantFactory
from .conftest import page_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def suspended(merchant):
    return merchant_set_status(
        merchant=merchant, status=MerchantStatus.SUSPENDED, actor=None, reason="Unpaid invoices since March."
    )


@pytest.mark.parametrize("debug", [True, False], ids=["debug", "production"])
def test_suspended_merchant_pages_say_so_and_why(owner_client, suspended, settings, debug):
    settings.DEBUG = debug

    response = owner_client.get(page_url("home", suspended))

    body = response.content.decode()
    assert response.status_code == 403
    assert "<h1>Maison Alpha is suspended</h1>" in body
    assert "its portal and API keys are disabled" in body
    assert "<strong>Reason:</strong> Unpaid invoices since March." in body


@pytest.mark.parametrize("name", ["settings", "member-list", "apikey-list", "audit-list", "onboarding"])
def test_every_portal_page_of_a_suspended_merchant_is_refused(owner_client, suspended, name):
    assert owner_client.get(page_url(name, suspended)).status_code == 403


def test_suspended_page_offers_the_users_other_brands(owner_client, suspended):
    zeta = MerchantFactory(name="Zeta", slug="zeta")
    MembershipFactory(merchant=zeta, user=owner_client.user, role=Role.ANALYST)

    body = owner_client.get(page_url("home", suspended)).content.decode()

    assert f'<a href="{page_url("home", zeta)}">Zeta</a>' in body


def test_a_role_refusal_says_so_plainly(analyst_client, merchant):
    response = analyst_client.get(page_url("apikey-list", merchant))

    assert response.status_code == 403
    assert "Your role does not allow this." in response.content.decode()
    assert reverse("merchants:home-redirect") in response.content.decode()
