"""The owner rules are enforced by the services themselves, whatever page or tool calls them."""

import pytest
from django.core.exceptions import ValidationError

from merchants.models import Role
from merchants.services import invitation_create, membership_change_role, membership_remove

from ..factories import MembershipFactory, StoreFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(merchant):
    return {role: MembershipFactory(merchant=merchant, role=role) for role in (Role.OWNER, Role.ADMIN, Role.ANALYST)}


def test_admin_cannot_invite_promote_demote_or_remove_owners(merchant, team):
    admin = team[Role.ADMIN].user
    MembershipFactory(merchant=merchant, role=Role.OWNER)  # a second owner: the last-owner rule is not in play

    with pytest.raises(ValidationError, match="Only an owner can invite another owner."):
        invitation_create(merchant=merchant, email="x@example.com", role=Role.OWNER, actor=admin)
    with pytest.raises(ValidationError, match="Only an owner can make someone owner"):
        membership_change_role(membership=team[Role.ANALYST], role=Role.OWNER, actor=admin)
    with pytest.raises(ValidationError, match="Only an owner can make someone owner"):
        membership_change_role(membership=team[Role.OWNER], role=Role.ANALYST, actor=admin)
    with pytest.raises(ValidationError, match="Only an owner can remove an owner."):
        membership_remove(membership=team[Role.OWNER], actor=admin)

    team[Role.OWNER].refresh_from_db()
    team[Role.ANALYST].refresh_from_db()
    assert (team[Role.OWNER].role, team[Role.ANALYST].role) == (Role.OWNER, Role.ANALYST)


def test_owner_and_system_may_manage_owners(merchant, team):
    membership_change_role(membership=team[Role.ANALYST], role=Role.OWNER, actor=team[Role.OWNER].user)
    membership_change_role(membership=team[Role.ADMIN], role=Role.OWNER, actor=None)  # a management command

    assert set(merchant.memberships.filter(role=Role.OWNER).values_list("pk", flat=True)) == {
        team[Role.OWNER].pk,
        team[Role.ANALYST].pk,
        team[Role.ADMIN].pk,
    }


def test_last_owner_rule(merchant, team):
    with pytest.raises(ValidationError, match="at least one owner"):
        membership_change_role(membership=team[Role.OWNER], role=Role.ADMIN, actor=team[Role.OWNER].user)
    with pytest.raises(ValidationError, match="at least one owner"):
        membership_remove(membership=team[Role.OWNER], actor=team[Role.OWNER].user)


def test_store_assignments_must_be_the_merchants_stores(merchant, other_merchant, team):
    theirs = StoreFactory(merchant=other_merchant)

    with pytest.raises(ValidationError, match="Choose stores of this merchant only."):
        membership_change_role(
            membership=team[Role.ANALYST], role=Role.STORE_MANAGER, stores=[theirs], actor=team[Role.OWNER].user
        )
    with pytest.raises(ValidationError, match="Choose stores of this merchant only."):
        invitation_create(
            merchant=merchant,
            email="x@example.com",
            role=Role.STORE_MANAGER,
            stores=[theirs],
            actor=team[Role.OWNER].user,
        )
