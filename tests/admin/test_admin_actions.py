"""Staff actions and edits in the admin go through the services and reach the audit log."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages

from catalog.models import Category, Product
from merchants.models import ApiKey, AuditAction, AuditEvent, Invitation, Membership, MerchantStatus, Role
from merchants.services import api_key_create, invitation_create
from stores.models import Store

from ..factories import CategoryFactory, MembershipFactory, MerchantFactory, ProductFactory, StoreFactory, UserFactory

pytestmark = pytest.mark.django_db

MERCHANTS_URL = "/admin/merchants/merchant/"


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def _audit(action: str) -> list[tuple]:
    return list(
        AuditEvent.objects.filter(action=action)
        .order_by("id")
        .values_list("merchant__slug", "actor__email", "target", "ip_address", "data")
    )


# --- merchants: suspend / reactivate --------------------------------------------------------


def test_suspend_asks_for_a_reason_then_suspends_and_audits(staff_client, merchant, other_merchant):
    # Given two active merchants
    selected = {"action": "suspend_merchants", ACTION_CHECKBOX_NAME: [merchant.pk, other_merchant.pk]}

    # When staff choose "suspend" on both
    confirmation = staff_client.post(MERCHANTS_URL, selected)

    # Then a confirmation page asks for the reason, and nothing changed yet
    assert confirmation.status_code == 200
    assert "admin/merchants/merchant/suspend_confirmation.html" in [t.name for t in confirmation.templates]
    assert 'name="reason"' in confirmation.content.decode()
    merchant.refresh_from_db()
    assert merchant.status == MerchantStatus.ACTIVE

    # When they confirm with a reason
    response = staff_client.post(MERCHANTS_URL, {**selected, "apply": "yes", "reason": "Unpaid invoices"})

    # Then both are suspended with the reason, each with an audit row naming the staff member and their IP
    assert response.status_code == 302
    assert _messages(response) == ["Suspended 2 merchant(s): alpha, beta."]
    merchant.refresh_from_db()
    other_merchant.refresh_from_db()
    assert (merchant.status, merchant.suspended_reason) == (MerchantStatus.SUSPENDED, "Unpaid invoices")
    assert (other_merchant.status, other_merchant.suspended_reason) == (MerchantStatus.SUSPENDED, "Unpaid invoices")
    assert sorted(_audit(AuditAction.MERCHANT_SUSPENDED)) == [
        ("alpha", "staff@newretail.test", "alpha", "127.0.0.1", {"reason": "Unpaid invoices"}),
        ("beta", "staff@newretail.test", "beta", "127.0.0.1", {"reason": "Unpaid invoices"}),
    ]


def test_suspend_without_a_reason_changes_nothing(staff_client, merchant):
    response = staff_client.post(
        MERCHANTS_URL,
        {"action": "suspend_merchants", ACTION_CHECKBOX_NAME: [merchant.pk], "apply": "yes", "reason": ""},
    )

    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    merchant.refresh_from_db()
    assert merchant.status == MerchantStatus.ACTIVE
    assert _audit(AuditAction.MERCHANT_SUSPENDED) == []


def test_reactivate_restores_a_suspended_merchant_and_audits(staff_client, merchant, other_merchant):
    # Given a suspended merchant and an active one
    merchant.status, merchant.suspended_reason = MerchantStatus.SUSPENDED, "Fraud check"
    merchant.save()

    # When staff reactivate both
    response = staff_client.post(
        MERCHANTS_URL, {"action": "reactivate_merchants", ACTION_CHECKBOX_NAME: [merchant.pk, other_merchant.pk]}
    )

    # Then only the suspended one changes, its reason is cleared, and one audit row records it
    assert response.status_code == 302
    assert _messages(response) == ["Reactivated 1 merchant(s): alpha."]
    merchant.refresh_from_db()
    assert (merchant.status, merchant.suspended_reason) == (MerchantStatus.ACTIVE, "")
    assert _audit(AuditAction.MERCHANT_REACTIVATED) == [("alpha", "staff@newretail.test", "alpha", "127.0.0.1", {})]


def test_merchant_change_form_goes_through_merchant_update(staff_client, merchant):
    # When staff rename a merchant and change its timezone
    response = staff_client.post(
        f"{MERCHANTS_URL}{merchant.pk}/change/",
        {
            "name": "Maison Alpha Paris",
            "currency": "EUR",
            "timezone": "Europe/Lisbon",
            "onboarding_step": "profile",
            **_empty_inlines(),
        },
    )

    # Then it is saved and the change is in the audit log; status and slug are not editable here
    assert response.status_code == 302, response.content.decode()[:2000]
    merchant.refresh_from_db()
    assert (merchant.name, merchant.timezone, merchant.slug) == ("Maison Alpha Paris", "Europe/Lisbon", "alpha")
    assert _audit(AuditAction.MERCHANT_UPDATED) == [
        (
            "alpha",
            "staff@newretail.test",
            "alpha",
            "127.0.0.1",
            {
                "changed": {
                    "name": ["Maison Alpha", "Maison Alpha Paris"],
                    "timezone": ["Europe/Paris", "Europe/Lisbon"],
                }
            },
        )
    ]


def _empty_inlines() -> dict:
    data = {}
    for prefix in ("memberships", "api_keys"):
        data |= {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"}
    return data


def test_merchants_cannot_be_added_or_deleted_in_the_admin(staff_client, merchant):
    assert staff_client.get(f"{MERCHANTS_URL}add/").status_code == 403
    assert staff_client.get(f"{MERCHANTS_URL}{merchant.pk}/delete/").status_code == 403


# --- API keys -------------------------------------------------------------------------------


def test_revoke_key_action_revokes_and_audits(staff_client, merchant):
    # Given an active key and an already revoked one
    api_key, _ = api_key_create(merchant=merchant, name="POS", scopes=["stores:read"])
    old_key, _ = api_key_create(merchant=merchant, name="Old", scopes=["stores:read"])
    ApiKey.objects.filter(pk=old_key.pk).update(revoked_at="2024-01-01T00:00:00Z")

    # When staff revoke both
    response = staff_client.post(
        "/admin/merchants/apikey/", {"action": "revoke_keys", ACTION_CHECKBOX_NAME: [api_key.pk, old_key.pk]}
    )

    # Then the active key is revoked (the other is untouched) and the audit log has one row
    assert response.status_code == 302
    assert _messages(response) == ["Revoked 1 API key(s)."]
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    assert _audit(AuditAction.API_KEY_REVOKED) == [("alpha", "staff@newretail.test", str(api_key), "127.0.0.1", {})]


def test_api_key_pages_never_show_the_hash_and_refuse_add_and_delete(staff_client, merchant):
    api_key, raw = api_key_create(merchant=merchant, name="POS", scopes=["stores:read", "catalog:read"])

    change = staff_client.get(f"/admin/merchants/apikey/{api_key.pk}/change/").content.decode()
    changelist = staff_client.get("/admin/merchants/apikey/").content.decode()
    merchant_page = staff_client.get(f"{MERCHANTS_URL}{merchant.pk}/change/").content.decode()

    for page in (change, changelist, merchant_page):
        assert api_key.key_hash not in page
        assert raw not in page
        assert api_key.prefix in page
    assert "stores:read, catalog:read" in change
    assert 'name="key_hash"' not in change
    assert staff_client.get("/admin/merchants/apikey/add/").status_code == 403
    assert staff_client.get(f"/admin/merchants/apikey/{api_key.pk}/delete/").status_code == 403


# --- audit log ------------------------------------------------------------------------------


def test_audit_log_is_read_only(staff_client, merchant):
    # Given an audit event
    api_key_create(merchant=merchant, name="POS", scopes=["stores:read"])
    event = AuditEvent.objects.get()
    url = f"/admin/merchants/auditevent/{event.pk}/"

    # When staff try to add, change or delete it
    add = staff_client.get("/admin/merchants/auditevent/add/")
    change = staff_client.post(f"{url}change/", {"action": "merchant.created", "target": "forged"})
    delete = staff_client.post(f"{url}delete/", {"post": "yes"})
    bulk_delete = staff_client.post(
        "/admin/merchants/auditevent/", {"action": "delete_selected", ACTION_CHECKBOX_NAME: [event.pk], "post": "yes"}
    )
    view = staff_client.get(f"{url}change/")

    # Then every write is refused and the event is intact; the page only shows it
    assert (add.status_code, change.status_code, delete.status_code) == (403, 403, 403)
    assert bulk_delete.status_code == 200  # "No action selected": delete_selected is not offered
    assert AuditEvent.objects.filter(pk=event.pk, action=AuditAction.API_KEY_CREATED).exists()
    assert view.status_code == 200
    assert 'type="submit" value="Save"' not in view.content.decode()
    assert "scopes" in view.content.decode()


# --- memberships and invitations ------------------------------------------------------------


def test_membership_role_change_goes_through_the_service(staff_client, merchant):
    # Given an owner and an analyst
    MembershipFactory(merchant=merchant, role=Role.OWNER)
    analyst = MembershipFactory(merchant=merchant, role=Role.ANALYST, user=UserFactory(email="ana@alpha.test"))

    # When staff make the analyst an admin
    response = staff_client.post(f"/admin/merchants/membership/{analyst.pk}/change/", {"role": Role.ADMIN})

    # Then the role changed and the audit log says so
    assert response.status_code == 302
    analyst.refresh_from_db()
    assert analyst.role == Role.ADMIN
    assert _audit(AuditAction.MEMBER_ROLE_CHANGED) == [
        ("alpha", "staff@newretail.test", "ana@alpha.test", "127.0.0.1", {"from": "analyst", "to": "admin"})
    ]


def test_the_last_owner_can_be_neither_demoted_nor_removed(staff_client, merchant):
    owner = MembershipFactory(merchant=merchant, role=Role.OWNER, user=UserFactory(email="only@alpha.test"))

    demote = staff_client.post(f"/admin/merchants/membership/{owner.pk}/change/", {"role": Role.ANALYST})
    remove = staff_client.post(
        "/admin/merchants/membership/", {"action": "remove_memberships", ACTION_CHECKBOX_NAME: [owner.pk]}
    )

    assert demote.status_code == 200
    assert "A merchant must keep at least one owner" in demote.content.decode()
    assert _messages(remove) == [
        "Not removed — only@alpha.test of Maison Alpha: "
        "A merchant must keep at least one owner: make someone else owner first."
    ]
    owner.refresh_from_db()
    assert owner.role == Role.OWNER


def test_remove_membership_action_removes_and_audits(staff_client, merchant):
    MembershipFactory(merchant=merchant, role=Role.OWNER)
    analyst = MembershipFactory(merchant=merchant, role=Role.ANALYST, user=UserFactory(email="ana@alpha.test"))

    response = staff_client.post(
        "/admin/merchants/membership/", {"action": "remove_memberships", ACTION_CHECKBOX_NAME: [analyst.pk]}
    )

    assert _messages(response) == ["Removed 1 membership(s)."]
    assert not Membership.objects.filter(pk=analyst.pk).exists()
    assert _audit(AuditAction.MEMBER_REMOVED) == [
        ("alpha", "staff@newretail.test", "ana@alpha.test", "127.0.0.1", {"role": "analyst"})
    ]


def test_revoke_invitation_action(staff_client, merchant):
    inviter = MembershipFactory(merchant=merchant, role=Role.OWNER).user
    invitation, _ = invitation_create(merchant=merchant, email="new@alpha.test", role=Role.ANALYST, actor=inviter)

    response = staff_client.post(
        "/admin/merchants/invitation/", {"action": "revoke_invitations", ACTION_CHECKBOX_NAME: [invitation.pk]}
    )

    assert _messages(response) == ["Revoked 1 pending invitation(s)."]
    assert Invitation.objects.get(pk=invitation.pk).state == "revoked"
    assert _audit(AuditAction.INVITATION_REVOKED) == [
        ("alpha", "staff@newretail.test", "new@alpha.test", "127.0.0.1", {})
    ]
    pending = staff_client.get("/admin/merchants/invitation/?state=pending").context["cl"].result_count
    revoked = staff_client.get("/admin/merchants/invitation/?state=revoked").context["cl"].result_count
    assert (pending, revoked) == (0, 1)


# --- users ----------------------------------------------------------------------------------


def test_staff_add_a_user_by_email(staff_client):
    response = staff_client.post(
        "/admin/accounts/user/add/",
        {
            "email": "New.Person@Example.com",
            "full_name": "New Person",
            "usable_password": "true",
            "password1": "a-long-unusual-passphrase",
            "password2": "a-long-unusual-passphrase",
        },
    )
    duplicate = staff_client.post(
        "/admin/accounts/user/add/", {"email": "NEW.PERSON@example.com", "usable_password": "false"}
    )

    assert response.status_code == 302
    from accounts.models import User

    user = User.objects.get(email="new.person@example.com")
    assert user.check_password("a-long-unusual-passphrase")
    assert duplicate.status_code == 200
    assert "A user with this e-mail address already exists." in duplicate.content.decode()


def test_user_changelist_counts_memberships(staff_client, merchant, other_merchant):
    user = UserFactory(email="agency@example.com")
    MembershipFactory(merchant=merchant, user=user, role=Role.ADMIN)
    MembershipFactory(merchant=other_merchant, user=user, role=Role.ANALYST)

    response = staff_client.get("/admin/accounts/user/?q=agency")

    rows = list(response.context["cl"].result_list)
    assert [(row.email, row.memberships_count) for row in rows] == [("agency@example.com", 2)]


# --- tenant consistency of related objects --------------------------------------------------


def test_a_product_cannot_point_at_another_merchants_category(staff_client, merchant):
    product = ProductFactory(merchant=merchant, sku="TEE-1", name="Tee", brand="Acme", price="10.00")
    foreign_category = CategoryFactory(merchant=MerchantFactory(slug="gamma"), name="Foreign")

    response = staff_client.post(
        f"/admin/catalog/product/{product.pk}/change/",
        {"sku": "TEE-1", "name": "Tee", "category": foreign_category.pk, "brand": "Acme", "price": "10.00"},
    )

    assert response.status_code == 200
    assert "Choose only objects that belong to Maison Alpha." in response.content.decode()
    product.refresh_from_db()
    assert product.category_id != foreign_category.pk


# --- stores and products: edits go through their services -----------------------------------


def test_store_add_edit_close_and_reopen_through_the_services(staff_client, merchant):
    # When staff add a store (lower-case code), rename it, close it and reopen it
    add = staff_client.post(
        "/admin/stores/store/add/",
        {
            "merchant": merchant.pk,
            "code": "par-9",
            "name": "Paris Neuf",
            "city": "Paris",
            "country": "FR",
            "timezone": "Europe/Paris",
            "opening_hours": '{"mon": ["10:00-19:00"]}',
        },
    )
    store = Store.objects.get(merchant=merchant)
    change = staff_client.post(
        f"/admin/stores/store/{store.pk}/change/",
        {
            "code": "PAR-9",
            "name": "Paris Neuf Opéra",
            "city": "Paris",
            "country": "FR",
            "timezone": "Europe/Paris",
            "opening_hours": '{"mon": ["10:00-19:00"]}',
        },
    )
    close = staff_client.post("/admin/stores/store/", {"action": "close_stores", ACTION_CHECKBOX_NAME: [store.pk]})
    store.refresh_from_db()
    closed = (store.status, store.closed_on is not None)
    reopen = staff_client.post("/admin/stores/store/", {"action": "reopen_stores", ACTION_CHECKBOX_NAME: [store.pk]})

    # Then each step went through the stores services and is in the audit log as the staff member's doing
    assert (add.status_code, change.status_code, close.status_code, reopen.status_code) == (302, 302, 302, 302)
    store.refresh_from_db()
    assert (store.code, store.name, store.status, store.closed_on) == ("PAR-9", "Paris Neuf Opéra", "active", None)
    assert closed == ("closed", True)
    assert store.opening_hours["mon"] == ["10:00-19:00"]
    events = list(
        AuditEvent.objects.filter(merchant=merchant).order_by("id").values_list("action", "actor__email", "target")
    )
    assert events == [
        (AuditAction.STORE_CREATED, "staff@newretail.test", "PAR-9"),
        (AuditAction.STORE_UPDATED, "staff@newretail.test", "PAR-9"),
        (AuditAction.STORE_CLOSED, "staff@newretail.test", "PAR-9"),
        (AuditAction.STORE_UPDATED, "staff@newretail.test", "PAR-9"),
    ]


def test_store_code_clash_is_a_form_error(staff_client, merchant):
    StoreFactory(merchant=merchant, code="PAR-1", name="Paris One")
    other = StoreFactory(merchant=merchant, code="PAR-2", name="Paris Two")

    response = staff_client.post(
        f"/admin/stores/store/{other.pk}/change/",
        {"code": "par-1", "name": "Paris Two", "country": "FR", "timezone": "Europe/Paris", "opening_hours": "{}"},
    )

    assert response.status_code == 200
    assert "The code PAR-1 is already used by Paris One." in response.content.decode()
    other.refresh_from_db()
    assert other.code == "PAR-2"


def test_stores_cannot_be_deleted_in_the_admin(staff_client, merchant):
    store = StoreFactory(merchant=merchant)

    assert staff_client.get(f"/admin/stores/store/{store.pk}/delete/").status_code == 403


def test_product_add_and_edit_through_the_services_and_delete_is_audited(staff_client, merchant):
    category = CategoryFactory(merchant=merchant, name="Shoes")

    add = staff_client.post(
        "/admin/catalog/product/add/",
        {"merchant": merchant.pk, "sku": "SHO-1", "name": "Loafer", "category": category.pk, "price": "89.90"},
    )
    product = Product.objects.get(merchant=merchant, sku="SHO-1")
    change = staff_client.post(
        f"/admin/catalog/product/{product.pk}/change/",
        {"sku": "SHO-1", "name": "Loafer", "category": category.pk, "price": "79.90", "active": "on"},
    )
    delete = staff_client.post(f"/admin/catalog/product/{product.pk}/delete/", {"post": "yes"})

    assert (add.status_code, change.status_code, delete.status_code) == (302, 302, 302)
    assert not Product.objects.filter(pk=product.pk).exists()
    events = list(
        AuditEvent.objects.filter(merchant=merchant).order_by("id").values_list("action", "actor__email", "data")
    )
    assert events == [
        (AuditAction.PRODUCT_CREATED, "staff@newretail.test", {"name": "Loafer"}),
        (
            AuditAction.PRODUCT_UPDATED,
            "staff@newretail.test",
            {"changed": {"price": ["89.90", "79.90"], "active": [False, True]}},
        ),
        (
            AuditAction.DELETED,
            "staff@newretail.test",
            {"model": "catalog.Product", "pk": product.pk, "via": "admin"},
        ),
    ]


def test_category_names_are_unique_per_merchant_whatever_the_case(staff_client, merchant):
    CategoryFactory(merchant=merchant, name="Shoes")

    response = staff_client.post("/admin/catalog/category/add/", {"merchant": merchant.pk, "name": "shoes"})
    created = staff_client.post("/admin/catalog/category/add/", {"merchant": merchant.pk, "name": "  Bags  "})

    assert response.status_code == 200
    assert "Maison Alpha already has a category named “Shoes”." in response.content.decode()
    assert created.status_code == 302
    assert sorted(Category.objects.filter(merchant=merchant).values_list("name", flat=True)) == ["Bags", "Shoes"]


def test_a_save_the_service_refuses_is_reported_not_a_server_error(staff_client, merchant, monkeypatch):
    # Given a rule only the service knows (simulated) refusing the change
    from django.core.exceptions import ValidationError

    from stores import services

    store = StoreFactory(merchant=merchant, code="PAR-1", name="Paris One", opening_hours={})

    def refuse(**kwargs):
        raise ValidationError({"name": "Refused by the service."})

    monkeypatch.setattr(services, "store_update", refuse)

    # When staff save the store
    url = f"/admin/stores/store/{store.pk}/change/"
    response = staff_client.post(
        url, {"code": "PAR-1", "name": "Renamed", "country": "FR", "timezone": "Europe/Paris", "opening_hours": "{}"}
    )

    # Then they are sent back to the form with the reason, and nothing changed
    assert response.status_code == 302
    assert response["Location"] == url
    assert _messages(response) == ["Not saved: Refused by the service."]
    store.refresh_from_db()
    assert store.name == "Paris One"
