import re

import pytest
from django.conf import settings
from django.core import mail
from django.urls import reverse

from ..factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-fresh-and-long-passphrase"


@pytest.fixture
def ana(db):
    return UserFactory(email="ana@example.com")


def _reset_link(message) -> str:
    return re.search(r"http://testserver(/accounts/password/reset/\S+/)", message.body).group(1)


def test_password_reset_sends_an_email_whose_link_sets_a_new_password(client, ana):
    # When Ana asks for a reset (typing her address in another case)
    response = client.post(reverse("accounts:password-reset"), {"email": "Ana@Example.com"})

    # Then she is told to check her e-mail, and one message went to her
    assert response.status_code == 302
    assert response.url == reverse("accounts:password-reset-done")
    assert "Check your e-mail" in client.get(response.url).content.decode()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert (message.to, message.subject) == (["ana@example.com"], "Reset your NewRetail password")

    # When she opens the link and chooses a new password
    form_page = client.get(_reset_link(message), follow=True)
    assert form_page.status_code == 200
    assert "Choose a new password" in form_page.content.decode()
    done = client.post(form_page.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    # Then the password is changed and she can log in with it
    assert done.status_code == 302
    assert done.url == reverse("accounts:password-reset-complete")
    assert "Your password is changed" in client.get(done.url).content.decode()
    ana.refresh_from_db()
    assert ana.check_password(NEW_PASSWORD)
    login = client.post(reverse("accounts:login"), {"username": "ana@example.com", "password": NEW_PASSWORD})
    assert login.status_code == 302


def test_password_reset_for_an_unknown_address_sends_nothing_but_says_the_same(client):
    response = client.post(reverse("accounts:password-reset"), {"email": "nobody@example.com"})

    assert response.status_code == 302
    assert response.url == reverse("accounts:password-reset-done")
    assert mail.outbox == []


def test_a_used_reset_link_says_it_no_longer_works(client, ana):
    client.post(reverse("accounts:password-reset"), {"email": "ana@example.com"})
    link = _reset_link(mail.outbox[0])
    form_url = client.get(link, follow=True).redirect_chain[-1][0]
    client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    response = client.get(link, follow=True)

    assert "This link no longer works" in response.content.decode()


def test_resetting_the_password_lifts_a_lockout(client, ana):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("accounts:login"), {"username": "ana@example.com", "password": "wrong"})
    assert (
        client.post(reverse("accounts:login"), {"username": "ana@example.com", "password": PASSWORD}).status_code == 429
    )

    client.post(reverse("accounts:password-reset"), {"email": "ana@example.com"})
    form_url = client.get(_reset_link(mail.outbox[0]), follow=True).redirect_chain[-1][0]
    client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    login = client.post(reverse("accounts:login"), {"username": "ana@example.com", "password": NEW_PASSWORD})
    assert login.status_code == 302


def test_password_change(owner_client):
    page = owner_client.get(reverse("accounts:password-change"))
    assert page.status_code == 200

    response = owner_client.post(
        reverse("accounts:password-change"),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 302
    assert response.url == reverse("accounts:password-change-done")
    owner_client.user.refresh_from_db()
    assert owner_client.user.check_password(NEW_PASSWORD)
    # the session survives the change
    assert owner_client.get(reverse("accounts:password-change-done")).status_code == 200


def test_password_change_needs_login(client):
    response = client.get(reverse("accounts:password-change"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))
