import pytest
from django.core import mail
from django.urls import reverse

from merchants.models import AuditAction, AuditEvent, Invitation, Membership, Role
from merchants.services import invitation_create

from ..factories import MembershipFactory, StoreFactory, UserFactory
from .conftest import page_url

pytestmark = pytest.mark.django_db


# --- list -------------------------------------------------------------------------------------


def test_member_list_shows_roles_stores_and_invitations_with_state(owner_client, store_manager_client, merchant):
    invitation_create(merchant=merchant, email="new@example.com", role=Role.ANALYST, actor=owner_client.user)

    response = owner_client.get(page_url("member-list", merchant))

    body = response.content.decode()
    assert [m.user.email for m in response.context["memberships"]] == ["owner@alpha.test", "store_manager@alpha.test"]
    assert "Managed store (MGR1)" in body
    assert "new@example.com" in body
    assert '<span class="badge badge-ok">Pending</span>' in body
    assert page_url("invitation-create", merchant) in body


def test_readers_see_members_without_invitations_or_actions(owner_client, analyst_client, merchant):
    invitation_create(merchant=merchant, email="new@example.com", role=Role.ANALYST, actor=owner_client.user)

    response = analyst_client.get(page_url("member-list", merchant))

    body = response.content.decode()
    assert response.status_code == 200
    assert "owner@alpha.test" in body
    assert "new@example.com" not in body
    assert page_url("invitation-create", merchant) not in body
    assert "Change role" not in body


def test_member_list_query_count_does_not_grow_with_rows(owner_client, merchant, django_assert_num_queries):
    def add_rows(n):
        stores = StoreFactory.create_batch(2, merchant=merchant)
        for _ in range(n):
            MembershipFactory(merchant=merchant, role=Role.STORE_MANAGER).stores.set(stores)
            invitation, _ = invitation_create(
                merchant=merchant,
                email=f"{UserFactory.build().email}",
                role=Role.STORE_MANAGER,
                actor=owner_client.user,
                stores=stores,
            )

    add_rows(2)
    # session, user, tenant membership, memberships, their stores, invitations, their stores, switcher memberships
    with django_assert_num_queries(8):
        assert owner_client.get(page_url("member-list", merchant)).status_code == 200
    add_rows(3)
    with django_assert_num_queries(8):
        assert owner_client.get(page_url("member-list", merchant)).status_code == 200


# --- invitations --------------------------------------------------------------------------------


def test_invite_sends_an_email_with_the_accept_link(owner_client, merchant, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            page_url("invitation-create", merchant), {"email": "Colleague@Example.com", "role": Role.ADMIN}
        )

    invitation = Invitation.objects.get()
    assert response.url == page_url("member-list", merchant)
    assert (invitation.email, invitation.role, invitation.invited_by) == (
        "colleague@example.com",
        Role.ADMIN,
        owner_client.user,
    )
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["colleague@example.com"]
    assert message.subject == "You are invited to Maison Alpha on NewRetail"
    assert "/invitations/" in message.body
    assert AuditEvent.objects.filter(action=AuditAction.MEMBER_INVITED, target="colleague@example.com").count() == 1


def test_invite_a_store_manager_with_stores_of_this_merchant_only(owner_client, merchant, other_merchant):
    mine = StoreFactory(merchant=merchant, code="P01")
    theirs = StoreFactory(merchant=other_merchant, code="X01")

    refused = owner_client.post(
        page_url("invitation-create", merchant),
        {"email": "sm@example.com", "role": Role.STORE_MANAGER, "stores": [theirs.pk]},
    )
    accepted = owner_client.post(
        page_url("invitation-create", merchant),
        {"email": "sm@example.com", "role": Role.STORE_MANAGER, "stores": [mine.pk]},
    )

    assert refused.status_code == 200
    assert "stores" in refused.context["form"].errors
    assert accepted.status_code == 302
    assert list(Invitation.objects.get().stores.all()) == [mine]


def test_inviting_a_member_again_is_refused_on_the_field(owner_client, analyst_client, merchant):
    response = owner_client.post(
        page_url("invitation-create", merchant), {"email": "ANALYST@alpha.test", "role": Role.ADMIN}
    )

    assert response.context["form"].errors == {"email": ["analyst@alpha.test is already a member of Maison Alpha."]}


def test_admin_is_not_offered_and_cannot_invite_an_owner(admin_member_client, merchant):
    page = admin_member_client.get(page_url("invitation-create", merchant))
    assert [value for value, _ in page.context["form"].fields["role"].choices] == ["admin", "analyst", "store_manager"]

    response = admin_member_client.post(
        page_url("invitation-create", merchant), {"email": "x@example.com", "role": "owner"}
    )

    assert response.status_code == 200
    assert "role" in response.context["form"].errors
    assert not Invitation.objects.exists()


def test_owner_may_invite_an_owner(owner_client, merchant):
    response = owner_client.post(page_url("invitation-create", merchant), {"email": "co@example.com", "role": "owner"})

    assert response.status_code == 302
    assert Invitation.objects.get().role == Role.OWNER


def test_revoke_invitation_with_a_plain_post(owner_client, merchant):
    invitation, _ = invitation_create(
        merchant=merchant, email="x@example.com", role=Role.ANALYST, actor=owner_client.user
    )
    assert (
        "Revoke the invitation of x@example.com?"
        in owner_client.get(page_url("invitation-revoke", merchant, pk=invitation.pk)).content.decode()
    )

    response = owner_client.post(page_url("invitation-revoke", merchant, pk=invitation.pk), follow=True)

    invitation.refresh_from_db()
    assert invitation.state == "revoked"
    assert "The invitation of x@example.com is revoked" in response.content.decode()
    assert AuditEvent.objects.filter(action=AuditAction.INVITATION_REVOKED, target="x@example.com").count() == 1


def test_revoke_invitation_with_htmx_swaps_the_row(owner_client, merchant):
    invitation, _ = invitation_create(
        merchant=merchant, email="x@example.com", role=Role.ANALYST, actor=owner_client.user
    )

    response = owner_client.post(page_url("invitation-revoke", merchant, pk=invitation.pk), HTTP_HX_REQUEST="true")

    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith(f'<tr id="invitation-{invitation.pk}">')
    assert '<span class="badge badge-off">Revoked</span>' in body
    assert "Revoke</button>" not in body


# --- change role and remove -------------------------------------------------------------------


def test_owner_changes_a_role_and_assigns_stores(owner_client, analyst_client, merchant):
    store = StoreFactory(merchant=merchant)
    membership = analyst_client.membership

    response = owner_client.post(
        page_url("member-update", merchant, pk=membership.pk), {"role": Role.STORE_MANAGER, "stores": [store.pk]}
    )

    membership.refresh_from_db()
    assert response.url == page_url("member-list", merchant)
    assert membership.role == Role.STORE_MANAGER
    assert list(membership.stores.all()) == [store]
    event = AuditEvent.objects.get(action=AuditAction.MEMBER_ROLE_CHANGED)
    assert (event.target, event.data) == ("analyst@alpha.test", {"from": "analyst", "to": "store_manager"})


def test_the_last_owner_cannot_be_demoted_or_removed(owner_client, merchant):
    membership = owner_client.membership

    demoted = owner_client.post(page_url("member-update", merchant, pk=membership.pk), {"role": Role.ADMIN})
    removed = owner_client.post(page_url("member-remove", merchant, pk=membership.pk), follow=True)

    assert demoted.status_code == 200
    assert demoted.context["form"].non_field_errors() == [
        "A merchant must keep at least one owner: make someone else owner first."
    ]
    assert "A merchant must keep at least one owner" in removed.content.decode()
    membership.refresh_from_db()
    assert membership.role == Role.OWNER


def test_an_owner_can_step_down_when_another_owner_remains(owner_client, merchant):
    MembershipFactory(merchant=merchant, role=Role.OWNER)

    response = owner_client.post(
        page_url("member-update", merchant, pk=owner_client.membership.pk), {"role": Role.ADMIN}
    )

    assert response.status_code == 302
    owner_client.membership.refresh_from_db()
    assert owner_client.membership.role == Role.ADMIN


def test_admin_cannot_promote_anyone_to_owner(admin_member_client, analyst_client, merchant):
    response = admin_member_client.post(
        page_url("member-update", merchant, pk=analyst_client.membership.pk), {"role": Role.OWNER}
    )

    assert response.status_code == 200
    assert "role" in response.context["form"].errors
    analyst_client.membership.refresh_from_db()
    assert analyst_client.membership.role == Role.ANALYST


def test_admin_cannot_change_or_remove_an_owner(admin_member_client, owner_client, merchant):
    MembershipFactory(merchant=merchant, role=Role.OWNER)  # so the last-owner rule is not what refuses
    owner = owner_client.membership

    page = admin_member_client.get(page_url("member-update", merchant, pk=owner.pk))
    changed = admin_member_client.post(page_url("member-update", merchant, pk=owner.pk), {"role": Role.ANALYST})
    removed = admin_member_client.post(page_url("member-remove", merchant, pk=owner.pk), follow=True)

    assert "Only an owner can change an owner's role." in page.content.decode()
    assert changed.context["form"].errors == {
        "role": ["Only an owner can make someone owner or change an owner's role."]
    }
    assert "Only an owner can remove an owner." in removed.content.decode()
    owner.refresh_from_db()
    assert owner.role == Role.OWNER


def test_owner_promotes_an_admin_to_owner(owner_client, admin_member_client, merchant):
    response = owner_client.post(
        page_url("member-update", merchant, pk=admin_member_client.membership.pk), {"role": "owner"}
    )

    assert response.status_code == 302
    admin_member_client.membership.refresh_from_db()
    assert admin_member_client.membership.role == Role.OWNER


def test_remove_a_member(admin_member_client, analyst_client, merchant):
    membership = analyst_client.membership
    assert "Remove" in admin_member_client.get(page_url("member-remove", merchant, pk=membership.pk)).content.decode()

    response = admin_member_client.post(page_url("member-remove", merchant, pk=membership.pk), follow=True)

    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert "analyst@alpha.test no longer has access to Maison Alpha." in response.content.decode()
    assert analyst_client.get(page_url("home", merchant)).status_code == 404
    event = AuditEvent.objects.get(action=AuditAction.MEMBER_REMOVED)
    assert (event.actor, event.target) == (admin_member_client.user, "analyst@alpha.test")


def test_an_admin_may_leave(admin_member_client, owner_client, merchant):
    response = admin_member_client.post(page_url("member-remove", merchant, pk=admin_member_client.membership.pk))

    assert response.url == reverse("merchants:home-redirect")
    assert not Membership.objects.filter(pk=admin_member_client.membership.pk).exists()


@pytest.mark.parametrize("name", ["member-update", "member-remove"])
def test_another_merchants_member_is_404(owner_client, other_owner_client, merchant, name):
    theirs = other_owner_client.membership

    assert owner_client.get(page_url(name, merchant, pk=theirs.pk)).status_code == 404
    assert owner_client.post(page_url(name, merchant, pk=theirs.pk), {"role": Role.ANALYST}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.role == Role.OWNER


def test_another_merchants_invitation_is_404(owner_client, other_owner_client, merchant, other_merchant):
    theirs, _ = invitation_create(
        merchant=other_merchant, email="x@example.com", role=Role.ANALYST, actor=other_owner_client.user
    )

    assert owner_client.post(page_url("invitation-revoke", merchant, pk=theirs.pk)).status_code == 404
    theirs.refresh_from_db()
    assert theirs.state == "pending"


def test_a_store_manager_needs_at_least_one_store_once_the_merchant_has_stores(owner_client, merchant):
    without_stores = owner_client.post(
        page_url("invitation-create", merchant), {"email": "early@example.com", "role": Role.STORE_MANAGER}
    )
    StoreFactory(merchant=merchant)

    refused = owner_client.post(
        page_url("invitation-create", merchant), {"email": "late@example.com", "role": Role.STORE_MANAGER}
    )

    assert without_stores.status_code == 302  # nothing to choose yet: allowed, the page says so
    assert refused.context["form"].errors == {
        "stores": ["Choose at least one store: a store manager sees only the stores chosen here."]
    }
