import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from merchants.models import AuditAction, AuditEvent, Membership, Merchant, OnboardingStep, Role

from ..factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

User = get_user_model()


def _signup(client, **overrides):
    data = {"email": "Founder@Example.com", "password": PASSWORD, "brand_name": "Maison Verte", "full_name": "Ana Lima"}
    return client.post(reverse("accounts:signup"), {**data, **overrides})


def test_sign_up_creates_user_and_merchant_logs_in_and_opens_onboarding(client):
    # When a visitor signs up
    response = _signup(client)

    # Then the user (lower-cased e-mail) owns a new merchant with default profile, at the first onboarding step
    user = User.objects.get()
    merchant = Merchant.objects.get()
    assert (user.email, user.full_name) == ("founder@example.com", "Ana Lima")
    assert user.check_password(PASSWORD)
    assert (merchant.name, merchant.slug, merchant.currency, merchant.onboarding_step) == (
        "Maison Verte",
        "maison-verte",
        "EUR",
        OnboardingStep.PROFILE,
    )
    assert list(Membership.objects.values_list("user__email", "merchant__slug", "role")) == [
        ("founder@example.com", "maison-verte", Role.OWNER)
    ]
    # and lands, signed in, on the onboarding wizard
    assert response.status_code == 302
    assert response.url == reverse("merchants:onboarding", kwargs={"merchant_slug": "maison-verte"})
    wizard = client.get(response.url, follow=True)
    assert wizard.status_code == 200
    assert wizard.wsgi_request.user == user
    assert "Brand profile" in wizard.content.decode()
    assert list(AuditEvent.objects.order_by("id").values_list("action", "merchant__slug")) == [
        (AuditAction.MERCHANT_CREATED, "maison-verte"),
        (AuditAction.SIGNED_UP, "maison-verte"),
    ]


def test_sign_up_page_has_labelled_fields_and_links_to_login(client):
    response = client.get(reverse("accounts:signup"))
    body = response.content.decode()
    assert response.status_code == 200
    for field_id, label in [
        ("id_email", "E-mail address"),
        ("id_password", "Password"),
        ("id_brand_name", "Brand name"),
    ]:
        assert f'<label for="{field_id}"' in body
        assert label in body
    assert reverse("accounts:login") in body


def test_sign_up_refuses_an_existing_email_whatever_its_case(client):
    UserFactory(email="founder@example.com")

    response = _signup(client, email="FOUNDER@example.com")

    assert response.status_code == 200
    assert response.context["form"].errors["email"] == [
        "An account with this e-mail address already exists. Log in, or reset your password."
    ]
    assert Merchant.objects.count() == 0


@pytest.mark.parametrize(
    ("password", "message"),
    [
        pytest.param("password123", "This password is too common.", id="common"),
        pytest.param("Xy1!", "This password is too short. It must contain at least 8 characters.", id="short"),
        pytest.param("83920174659", "This password is entirely numeric.", id="numeric"),
        pytest.param("founder@example.com", "The password is too similar to the e-mail address.", id="like-email"),
    ],
)
def test_sign_up_applies_django_password_validators(client, password, message):
    response = _signup(client, email="founder@example.com", password=password)

    assert response.status_code == 200
    assert message in response.context["form"].errors["password"]
    assert User.objects.count() == 0


def test_sign_up_requires_email_password_and_brand_but_not_full_name(client):
    response = client.post(reverse("accounts:signup"), {})

    assert set(response.context["form"].errors) == {"email", "password", "brand_name"}


def test_signed_in_user_is_sent_to_add_another_brand(owner_client):
    response = owner_client.get(reverse("accounts:signup"))

    assert response.status_code == 302
    assert response.url == reverse("merchants:merchant-create")
