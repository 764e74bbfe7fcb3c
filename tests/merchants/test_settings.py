import pytest

from merchants.models import AuditAction, AuditEvent, Role

from .conftest import page_url

pytestmark = pytest.mark.django_db

VALID = {"name": "Maison Alpha Group", "currency": "USD", "timezone": "America/New_York"}


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN], ids=["owner", "admin"])
def test_managers_edit_settings_and_the_change_is_audited(client_as, merchant, role):
    client = client_as(role)

    response = client.post(page_url("settings", merchant), VALID, follow=True)

    merchant.refresh_from_db()
    assert (merchant.name, merchant.currency, merchant.timezone) == ("Maison Alpha Group", "USD", "America/New_York")
    assert "Settings saved." in response.content.decode()
    event = AuditEvent.objects.get(action=AuditAction.MERCHANT_UPDATED)
    assert (event.merchant, event.actor, event.ip_address) == (merchant, client.user, "127.0.0.1")
    assert event.data["changed"]["currency"] == ["EUR", "USD"]


def test_saving_unchanged_settings_writes_no_audit_row(owner_client, merchant):
    response = owner_client.post(
        page_url("settings", merchant),
        {"name": "Maison Alpha", "currency": "EUR", "timezone": "Europe/Paris"},
        follow=True,
    )

    assert "Nothing changed." in response.content.decode()
    assert not AuditEvent.objects.filter(action=AuditAction.MERCHANT_UPDATED).exists()


def test_invalid_settings_show_errors(owner_client, merchant):
    response = owner_client.post(page_url("settings", merchant), {"name": "", "currency": "EUR", "timezone": "Nowhere"})

    assert response.status_code == 200
    assert response.context["form"].errors == {
        "name": ["This field is required."],
        "timezone": ["Select a valid choice. Nowhere is not one of the available choices."],
    }


@pytest.mark.parametrize("role", [Role.ANALYST, Role.STORE_MANAGER], ids=["analyst", "store_manager"])
def test_readers_see_settings_read_only_and_cannot_change_them(client_as, merchant, role):
    client = client_as(role)

    page = client.get(page_url("settings", merchant))
    refused = client.post(page_url("settings", merchant), VALID)

    body = page.content.decode()
    assert page.status_code == 200
    assert "You can read these settings; owners and admins change them." in body
    assert "<dd>EUR</dd>" in body
    assert '<form method="post" novalidate>' not in body
    assert refused.status_code == 403
    merchant.refresh_from_db()
    assert merchant.name == "Maison Alpha"


def test_settings_keep_a_legacy_timezone_selectable(owner_client, merchant):
    merchant.timezone = "US/Eastern"  # valid IANA alias, not in the menu's regions
    merchant.save()

    body = owner_client.get(page_url("settings", merchant)).content.decode()

    assert '<option value="US/Eastern" selected>US/Eastern</option>' in body
