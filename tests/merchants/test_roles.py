"""Who may open and who may change each portal page, role by role (the table below), with real effects.

tests/test_isolation.py walks every route with empty posts; this table posts valid data and checks what changed.
"""

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from merchants.models import ApiKey, Invitation, Membership, Role
from merchants.services import api_key_create, invitation_create

from ..factories import MembershipFactory, UserFactory
from .conftest import page_url

pytestmark = pytest.mark.django_db

OWNER, ADMIN, ANALYST, STORE_MANAGER = Role.OWNER, Role.ADMIN, Role.ANALYST, Role.STORE_MANAGER
ALL = {OWNER, ADMIN, ANALYST, STORE_MANAGER}
MANAGERS = {OWNER, ADMIN}


@dataclass
class Targets:
    member: Membership
    invitation: Invitation
    api_key: ApiKey


@pytest.fixture
def targets(merchant):
    owner = MembershipFactory(merchant=merchant, role=OWNER, user=UserFactory(email="first-owner@alpha.test"))
    invitation, _ = invitation_create(merchant=merchant, email="invitee@example.com", role=ANALYST, actor=owner.user)
    api_key, _ = api_key_create(merchant=merchant, name="Partner", scopes=["stores:read"])
    member = MembershipFactory(merchant=merchant, role=ANALYST, user=UserFactory(email="target@alpha.test"))
    return Targets(member, invitation, api_key)


@dataclass
class Page:
    name: str
    readers: set
    writers: set
    kwargs: Callable = lambda t: {}
    data: dict | None = None  # a valid POST; None: the page has no POST
    changed: Callable = lambda merchant, t: False  # did the POST take effect?


PAGES = [
    Page("home", ALL, set()),
    Page(
        "settings",
        ALL,
        MANAGERS,
        data={"name": "Renamed", "currency": "EUR", "timezone": "Europe/Paris"},
        changed=lambda m, t: m.__class__.objects.get(pk=m.pk).name == "Renamed",
    ),
    Page(
        "onboarding-step",
        MANAGERS,
        MANAGERS,
        kwargs=lambda t: {"step": "profile"},
        data={"name": "Renamed", "currency": "EUR", "timezone": "Europe/Paris"},
        changed=lambda m, t: m.__class__.objects.get(pk=m.pk).name == "Renamed",
    ),
    Page("member-list", ALL, set()),
    Page(
        "invitation-create",
        MANAGERS,
        MANAGERS,
        data={"email": "fresh@example.com", "role": ANALYST},
        changed=lambda m, t: Invitation.objects.filter(email="fresh@example.com").exists(),
    ),
    Page(
        "member-update",
        MANAGERS,
        MANAGERS,
        kwargs=lambda t: {"pk": t.member.pk},
        data={"role": ADMIN},
        changed=lambda m, t: Membership.objects.get(pk=t.member.pk).role == ADMIN,
    ),
    Page(
        "member-remove",
        MANAGERS,
        MANAGERS,
        kwargs=lambda t: {"pk": t.member.pk},
        data={},
        changed=lambda m, t: not Membership.objects.filter(pk=t.member.pk).exists(),
    ),
    Page(
        "invitation-revoke",
        MANAGERS,
        MANAGERS,
        kwargs=lambda t: {"pk": t.invitation.pk},
        data={},
        changed=lambda m, t: Invitation.objects.get(pk=t.invitation.pk).revoked_at is not None,
    ),
    Page("apikey-list", MANAGERS, set()),
    Page(
        "apikey-create",
        MANAGERS,
        MANAGERS,
        data={"name": "New key", "scopes": ["catalog:read"]},
        changed=lambda m, t: ApiKey.objects.filter(name="New key").exists(),
    ),
    Page(
        "apikey-revoke",
        MANAGERS,
        MANAGERS,
        kwargs=lambda t: {"pk": t.api_key.pk},
        data={},
        changed=lambda m, t: ApiKey.objects.get(pk=t.api_key.pk).revoked_at is not None,
    ),
    Page("audit-list", {OWNER}, set()),
]

CASES = [pytest.param(page, role, id=f"{page.name}-{role}") for page in PAGES for role in sorted(ALL)]


@pytest.mark.parametrize(("page", "role"), CASES)
def test_role_may_read_and_change_exactly_what_the_table_says(client_as, merchant, targets, page, role):
    client = client_as(role)
    url = page_url(page.name, merchant, **page.kwargs(targets))

    read = client.get(url)

    assert read.status_code == (200 if role in page.readers else 403)
    if page.data is None:
        assert client.post(url, {}).status_code in ({403} if role not in page.readers else {403, 405})
        return
    written = client.post(url, page.data)
    if role in page.writers:
        assert written.status_code in (200, 302)
        assert page.changed(merchant, targets) is True
    else:
        assert written.status_code == 403
        assert page.changed(merchant, targets) is False
