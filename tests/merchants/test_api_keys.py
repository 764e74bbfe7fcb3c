import hashlib

import pytest
from rest_framework.test import APIClient

from merchants.models import ApiKey, AuditAction, AuditEvent
from merchants.services import api_key_create

from .conftest import page_url

pytestmark = pytest.mark.django_db


def test_create_shows_the_secret_once_and_stores_only_its_hash(admin_member_client, merchant):
    response = admin_member_client.post(
        page_url("apikey-create", merchant), {"name": "Shopify sync", "scopes": ["stores:read", "catalog:read"]}
    )

    api_key = ApiKey.objects.get()
    secret = response.context["secret"]
    body = response.content.decode()
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert secret.startswith(api_key.prefix)
    assert api_key.prefix.startswith("nr_")
    assert f'<p class="secret" id="api-secret">{secret}</p>' in body
    assert "Copy it now: it is shown only once." in body
    assert f'curl -H "Authorization: Bearer {secret}" http://testserver/api/v1/stores/' in body
    # only the hash and a prefix are stored
    assert api_key.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    stored = {field.attname: getattr(api_key, field.attname) for field in ApiKey._meta.fields}
    assert secret not in [str(value) for value in stored.values()]
    assert (api_key.name, api_key.scopes, api_key.created_by) == (
        "Shopify sync",
        ["stores:read", "catalog:read"],
        admin_member_client.user,
    )
    # the list never shows it again
    listing = admin_member_client.get(page_url("apikey-list", merchant)).content.decode()
    assert secret not in listing
    assert f"{api_key.prefix}…" in listing
    assert AuditEvent.objects.filter(action=AuditAction.API_KEY_CREATED, actor=admin_member_client.user).count() == 1


def test_create_needs_a_name_and_a_scope(owner_client, merchant):
    response = owner_client.post(page_url("apikey-create", merchant), {"name": ""})

    assert response.context["form"].errors == {
        "name": ["This field is required."],
        "scopes": ["Choose at least one scope."],
    }
    assert not ApiKey.objects.exists()


def test_create_form_offers_every_scope_as_a_checkbox(owner_client, merchant):
    body = owner_client.get(page_url("apikey-create", merchant)).content.decode()

    for scope in ("stores:read", "stores:write", "catalog:read", "catalog:write"):
        assert f'type="checkbox" name="scopes" value="{scope}"' in body


def test_revoke_confirms_then_refuses_the_key(owner_client, merchant):
    api_key, raw = api_key_create(merchant=merchant, name="POS", scopes=["stores:read"])
    confirm = owner_client.get(page_url("apikey-revoke", merchant, pk=api_key.pk))
    assert "Revoke “POS”?" in confirm.content.decode()

    response = owner_client.post(page_url("apikey-revoke", merchant, pk=api_key.pk), follow=True)

    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    assert "POS (nr_" in response.content.decode()
    assert "is revoked: requests with it are now refused." in response.content.decode()
    assert AuditEvent.objects.filter(action=AuditAction.API_KEY_REVOKED, actor=owner_client.user).count() == 1
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api.get("/api/v1/stores/").status_code == 401


def test_revoke_with_htmx_swaps_the_row(owner_client, merchant):
    api_key, _ = api_key_create(merchant=merchant, name="POS", scopes=["stores:read"])

    response = owner_client.post(page_url("apikey-revoke", merchant, pk=api_key.pk), HTTP_HX_REQUEST="true")

    body = response.content.decode()
    assert body.lstrip().startswith(f'<tr id="apikey-{api_key.pk}">')
    assert '<span class="badge badge-off">Revoked</span>' in body


def test_list_shows_every_column_and_an_empty_state(owner_client, merchant):
    empty = owner_client.get(page_url("apikey-list", merchant)).content.decode()
    assert "No API keys yet" in empty

    api_key_create(merchant=merchant, name="POS", scopes=["stores:read", "stores:write"], actor=owner_client.user)
    body = owner_client.get(page_url("apikey-list", merchant)).content.decode()

    for text in ("POS", "stores:write", "Never", "Active", owner_client.user.get_full_name()):
        assert text in body


def test_list_query_count_does_not_grow_with_keys(owner_client, merchant, django_assert_num_queries):
    for n in range(2):
        api_key_create(merchant=merchant, name=f"key {n}", scopes=["stores:read"], actor=owner_client.user)
    # session, user, tenant membership, keys (with creator), switcher memberships
    with django_assert_num_queries(5):
        owner_client.get(page_url("apikey-list", merchant))
    for n in range(3):
        api_key_create(merchant=merchant, name=f"more {n}", scopes=["stores:read"], actor=owner_client.user)
    with django_assert_num_queries(5):
        owner_client.get(page_url("apikey-list", merchant))


def test_another_merchants_key_is_404(owner_client, merchant, other_merchant):
    theirs, _ = api_key_create(merchant=other_merchant, name="Theirs", scopes=["stores:read"])

    assert owner_client.get(page_url("apikey-revoke", merchant, pk=theirs.pk)).status_code == 404
    assert owner_client.post(page_url("apikey-revoke", merchant, pk=theirs.pk)).status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None
    assert "Theirs" not in owner_client.get(page_url("apikey-list", merchant)).content.decode()
