import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.urls import reverse

from merchants.models import AuditAction, AuditEvent

from ..factories import PASSWORD, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

User = get_user_model()


@pytest.fixture
def member(merchant):
    return MembershipFactory(merchant=merchant, user=UserFactory(email="ana@example.com")).user


def _login(client, email, password=PASSWORD, **extra):
    return client.post(reverse("accounts:login"), {"username": email, "password": password, **extra})


def test_login_page_links_to_sign_up_and_password_reset(client):
    body = client.get(reverse("accounts:login")).content.decode()

    assert '<label for="id_username">E-mail address' in body
    assert reverse("accounts:signup") in body
    assert reverse("accounts:password-reset") in body


@pytest.mark.parametrize("typed", ["ana@example.com", "Ana@Example.COM", "  ana@example.com "])
def test_login_by_email_is_case_insensitive(client, member, merchant, typed):
    response = _login(client, typed)

    assert response.status_code == 302
    assert response.url == reverse("merchants:home-redirect")
    assert client.get(response.url).url == reverse("merchants:home", kwargs={"merchant_slug": merchant.slug})
    assert int(client.session["_auth_user_id"]) == member.pk


def test_login_follows_a_safe_next_only(client, member):
    assert _login(client, "ana@example.com", next="/m/alpha/settings/").url == "/m/alpha/settings/"
    client.logout()
    assert _login(client, "ana@example.com", next="https://evil.example/").url == reverse("merchants:home-redirect")


def test_wrong_password_shows_a_clear_error_and_is_audited(client, member):
    response = _login(client, "ana@example.com", "wrong-password")

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [
        "That e-mail address and password don't match. Check them, or reset your password."
    ]
    event = AuditEvent.objects.get()
    assert (event.action, event.merchant, event.target, event.ip_address) == (
        AuditAction.SIGN_IN_FAILED,
        None,
        "ana@example.com",
        "127.0.0.1",
    )


def test_lockout_after_failure_limit_whatever_the_case_of_the_address(client, member):
    # Given AXES_FAILURE_LIMIT - 1 failures, typed with varying case
    limit = settings.AXES_FAILURE_LIMIT
    for attempt in range(limit - 1):
        email = "ana@example.com" if attempt % 2 else "ANA@example.com"
        assert _login(client, email, "wrong-password").status_code == 200

    # When the last allowed failure happens
    locked = _login(client, "Ana@Example.com", "wrong-password")

    # Then sign-in is paused with a clear page, even with the right password
    assert locked.status_code == 429
    assert "Sign-in paused" in locked.content.decode()
    assert "Reset my password" in locked.content.decode()
    assert "accounts/locked_out.html" in [t.name for t in locked.templates]
    again = _login(client, "ana@example.com", PASSWORD)
    assert again.status_code == 429
    assert "_auth_user_id" not in client.session
    # and every failure is in the audit log, with the lock-out itself
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions.count(AuditAction.SIGN_IN_FAILED) == limit + 1
    # axes signals the lock-out when it happens and again when the locked address tries once more
    assert actions.count(AuditAction.SIGN_IN_LOCKED) == 2
    assert AccessAttempt.objects.get().username == "ana@example.com"


def test_another_address_is_not_locked_by_someone_elses_failures(client, member):
    UserFactory(email="bob@example.com")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "ana@example.com", "wrong-password")

    assert _login(client, "bob@example.com").status_code == 302


def test_logout_is_a_post(owner_client):
    assert owner_client.get(reverse("accounts:logout")).status_code == 405

    response = owner_client.post(reverse("accounts:logout"))

    assert response.status_code == 302
    assert response.url == reverse("accounts:login")
    assert "_auth_user_id" not in owner_client.session
