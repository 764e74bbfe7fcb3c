"""Every registered admin answers: changelist, add (where allowed) and change pages, for staff only."""

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from merchants.models import AuditEvent
from merchants.services import api_key_create, invitation_create

from ..factories import MembershipFactory, ProductFactory, StoreFactory

pytestmark = pytest.mark.django_db

PROJECT_APPS = {"accounts", "merchants", "stores", "catalog"}
REGISTERED = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


@pytest.fixture
def one_of_everything(merchant, staff_user):
    """A row of every project model (the audit events come from the services)."""
    membership = MembershipFactory(merchant=merchant)
    store = StoreFactory(merchant=merchant)
    membership.stores.add(store)
    ProductFactory(merchant=merchant)
    invitation_create(merchant=merchant, email="invitee@alpha.test", role="analyst", actor=membership.user)
    api_key_create(merchant=merchant, name="POS", scopes=["stores:read"], actor=membership.user)
    assert AuditEvent.objects.count() == 2


def test_every_project_model_is_registered():
    registered = {model._meta.label for model in admin.site._registry}
    expected = {
        "accounts.User",
        "merchants.Merchant",
        "merchants.Membership",
        "merchants.Invitation",
        "merchants.ApiKey",
        "merchants.AuditEvent",
        "stores.Store",
        "catalog.Category",
        "catalog.Product",
    }
    assert expected <= registered


@pytest.mark.parametrize(("model", "model_admin"), REGISTERED, ids=[model._meta.label for model, _ in REGISTERED])
def test_admin_pages_load_for_staff(model, model_admin, one_of_everything, staff_client, staff_user):
    # Given a superuser and a row of every project model
    opts = model._meta
    request = RequestFactory().get("/admin/")
    request.user = staff_user

    # When staff open the changelist, the add page and a change page
    changelist = staff_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    add = staff_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"))
    obj = model._default_manager.first()
    if opts.app_label in PROJECT_APPS:
        assert obj is not None, f"the fixture has no {opts.label} row"

    # Then they load (add only where the admin allows adding: 403 otherwise)
    assert changelist.status_code == 200
    assert add.status_code == (200 if model_admin.has_add_permission(request) else 403)
    if obj is not None:
        change = staff_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]))
        assert change.status_code == 200


@pytest.mark.parametrize(
    "url", ["/admin/", "/admin/merchants/merchant/", "/admin/merchants/auditevent/", "/admin/stores/store/"]
)
def test_non_staff_member_is_sent_to_the_admin_login(owner_client, url):
    # When a merchant owner (not staff) opens the admin
    response = owner_client.get(url)

    # Then they are sent to the admin's own sign-in page
    assert response.status_code == 302
    assert response["Location"] == f"/admin/login/?next={url}"


def test_anonymous_visitor_is_sent_to_the_admin_login(client):
    response = client.get("/admin/merchants/merchant/")

    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/admin/merchants/merchant/"


def test_staff_sign_in_on_the_admin_login_and_members_are_refused(client, staff_user, owner_client, password):
    # Given a staff user and a merchant owner, both with passwords
    login_url = "/admin/login/?next=/admin/"

    # When each signs in on the admin's own login page
    staff = client.post(login_url, {"username": staff_user.email, "password": password, "next": "/admin/"})
    refused = owner_client.__class__().post(
        login_url, {"username": owner_client.user.email, "password": password, "next": "/admin/"}
    )

    # Then staff land on the admin index and the owner is refused with the admin's message
    assert staff.status_code == 302
    assert staff["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert refused.status_code == 200
    assert "Please enter the correct e-mail address and password for a staff account" in refused.content.decode()
