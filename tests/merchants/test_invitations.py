from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from merchants.models import AuditAction, AuditEvent, Invitation, Membership, Role
from merchants.services import invitation_create, invitation_revoke

from ..factories import PASSWORD, MembershipFactory, StoreFactory, UserFactory
from .conftest import page_url

pytestmark = pytest.mark.django_db

User = get_user_model()


@pytest.fixture
def invite(merchant):
    inviter = MembershipFactory(
        merchant=merchant, role=Role.OWNER, user=UserFactory(email="boss@alpha.test", full_name="Bea Boss")
    )

    def make(email="new@example.com", role=Role.ANALYST, stores=()):
        invitation, token = invitation_create(
            merchant=merchant, email=email, role=role, actor=inviter.user, stores=stores
        )
        return invitation, reverse("merchants:invitation-accept", kwargs={"token": token})

    return make


def test_new_user_creates_an_account_and_joins(client, merchant, invite):
    invitation, url = invite(email="new@example.com")
    page = client.get(url)
    assert (
        "Bea Boss invites new@example.com to join\n    Maison Alpha on NewRetail as <strong>analyst</strong>"
        in page.content.decode()
    )
    assert "Create my account and join" in page.content.decode()

    response = client.post(url, {"full_name": "Nia New", "password": PASSWORD})

    user = User.objects.get(email="new@example.com")
    assert user.full_name == "Nia New"
    assert user.check_password(PASSWORD)
    assert Membership.objects.get(user=user).role == Role.ANALYST
    assert response.url == page_url("home", merchant)
    assert int(client.session["_auth_user_id"]) == user.pk
    invitation.refresh_from_db()
    assert (invitation.state, invitation.accepted_by) == ("accepted", user)
    assert set(AuditEvent.objects.filter(actor=user).values_list("action", flat=True)) == {
        AuditAction.SIGNED_UP,
        AuditAction.MEMBER_JOINED,
    }


def test_new_user_password_is_validated(client, invite):
    _, url = invite(email="new@example.com")

    response = client.post(url, {"password": "new@example.com"})

    assert response.status_code == 200
    assert "The password is too similar to the e-mail address." in response.context["form"].errors["password"]
    assert not User.objects.filter(email="new@example.com").exists()


def test_existing_user_logs_in_and_comes_back_to_accept(client, merchant, invite):
    user = UserFactory(email="known@example.com")
    _, url = invite(email="Known@Example.com")

    # the page asks to log in as that address, and sends them back here
    page = client.get(url)
    login_url = page.context["login_url"]
    assert login_url == f"{reverse('accounts:login')}?email=known%40example.com&next={url.replace('/', '%2F')}"
    assert 'value="known@example.com"' in client.get(login_url).content.decode()
    logged_in = client.post(login_url, {"username": "known@example.com", "password": PASSWORD})
    assert logged_in.url == url

    accepted = client.post(url)

    assert accepted.url == page_url("home", merchant)
    assert Membership.objects.get(user=user, merchant=merchant).role == Role.ANALYST


def test_signed_in_invitee_accepts_with_one_click(client, merchant, invite):
    user = UserFactory(email="known@example.com")
    store = StoreFactory(merchant=merchant)
    _, url = invite(email="known@example.com", role=Role.STORE_MANAGER, stores=[store])
    client.force_login(user)
    assert "Accept and join Maison Alpha" in client.get(url).content.decode()

    response = client.post(url, follow=True)

    membership = Membership.objects.get(user=user, merchant=merchant)
    assert (membership.role, list(membership.stores.all())) == (Role.STORE_MANAGER, [store])
    assert "Welcome to Maison Alpha! You joined as Store manager." in response.content.decode()


def test_wrong_user_signed_in_is_told_and_refused(client, merchant, invite):
    intruder = UserFactory(email="someone@else.com")
    _, url = invite(email="new@example.com")
    client.force_login(intruder)

    page = client.get(url)
    posted = client.post(url)

    assert page.status_code == posted.status_code == 403
    body = page.content.decode()
    assert "This invitation is for another address" in body
    assert (
        "sent to <strong>new@example.com</strong>, but you\n    are logged in as <strong>someone@else.com</strong>"
        in body
    )
    assert not Membership.objects.filter(user=intruder).exists()


@pytest.mark.parametrize(
    ("make_state", "title"),
    [
        pytest.param("expired", "This invitation has expired", id="expired"),
        pytest.param("revoked", "This invitation was withdrawn", id="revoked"),
        pytest.param("accepted", "This invitation was already used", id="accepted"),
    ],
)
def test_unusable_invitations_say_why(client, merchant, invite, make_state, title):
    invitation, url = invite(email="new@example.com")
    if make_state == "expired":
        Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    elif make_state == "revoked":
        invitation_revoke(invitation=invitation, actor=None)
    else:
        Invitation.objects.filter(pk=invitation.pk).update(accepted_at=timezone.now())

    page = client.get(url)
    posted = client.post(url, {"full_name": "X", "password": PASSWORD})

    assert page.status_code == posted.status_code == 410
    assert title in page.content.decode()
    assert not User.objects.filter(email="new@example.com").exists()


def test_a_newer_invitation_replaces_the_older_link(client, invite):
    _, old_url = invite(email="new@example.com")
    invite(email="new@example.com", role=Role.ADMIN)

    assert "This invitation was withdrawn" in client.get(old_url).content.decode()


def test_accepted_invitation_sends_the_member_home(client, merchant, invite):
    user = UserFactory(email="known@example.com")
    _, url = invite(email="known@example.com")
    client.force_login(user)
    client.post(url)

    response = client.get(url)

    assert response.url == page_url("home", merchant)


def test_unknown_token_is_404(client):
    response = client.get(reverse("merchants:invitation-accept", kwargs={"token": "not-a-token"}))

    assert response.status_code == 404
    assert "This invitation link is not valid" in response.content.decode()


def test_wrong_user_can_log_out_and_come_back_to_the_invitation(client, invite):
    client.force_login(UserFactory(email="someone@else.com"))
    _, url = invite(email="new@example.com")

    response = client.post(reverse("accounts:logout"), {"next": url})

    assert response.url == url
    assert "Create my account and join" in client.get(url).content.decode()
