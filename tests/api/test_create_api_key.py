"""manage.py create_api_key: creates a key with scopes for a merchant and prints it once."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from merchants.api_auth import hash_api_key
from merchants.models import ApiKey, AuditAction, AuditEvent, MerchantStatus

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("create_api_key", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_creates_a_key_and_prints_it_once(merchant):
    out, err = run("--merchant", "alpha", "--name", "POS sync", "--scopes", "stores:read,stores:write", "catalog:read")

    api_key = ApiKey.objects.get(merchant=merchant)
    raw = next(line for line in out.splitlines() if line.startswith("nr_"))
    assert (api_key.name, api_key.scopes) == ("POS sync", ["stores:read", "stores:write", "catalog:read"])
    assert api_key.key_hash == hash_api_key(raw)
    assert raw.startswith(api_key.prefix)
    assert out.splitlines()[0] == (
        f"Created API key “POS sync” ({api_key.prefix}…) for Maison Alpha (alpha) "
        "with scopes stores:read, stores:write, catalog:read."
    )
    assert err == ""
    assert AuditEvent.objects.filter(action=AuditAction.API_KEY_CREATED, merchant=merchant).count() == 1


def test_the_key_works_against_the_api(merchant):
    from rest_framework.test import APIClient

    out, _ = run("--merchant", "alpha", "--name", "n", "--scopes", "stores:read", "-v", "0")
    raw = out.strip()
    assert raw.startswith("nr_")
    assert "\n" not in raw  # -v 0: the key alone, for scripts
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/stores/").status_code == 200
    assert client.get("/api/v1/products/").status_code == 403


def test_all_means_every_scope(merchant):
    run("--merchant", "alpha", "--name", "n", "--scopes", "all")
    assert ApiKey.objects.get().scopes == [
        "stores:read",
        "stores:write",
        "catalog:read",
        "catalog:write",
        "sales:read",
        "sales:write",
        "analytics:read",
        "recommendations:read",
        "recommendations:write",
        "reports:read",
        "reports:write",
    ]


def test_unknown_merchant_is_a_clear_error(merchant):
    with pytest.raises(CommandError, match="No merchant with slug “nope”."):
        run("--merchant", "nope", "--name", "n", "--scopes", "stores:read")
    assert not ApiKey.objects.exists()


def test_unknown_scope_is_a_clear_error(merchant):
    with pytest.raises(
        CommandError,
        match=(
            r"Unknown scope\(s\): stores:delete. Known: stores:read, stores:write, catalog:read, catalog:write, "
            r"sales:read, sales:write."
        ),
    ):
        run("--merchant", "alpha", "--name", "n", "--scopes", "stores:read,stores:delete")
    assert not ApiKey.objects.exists()


def test_suspended_merchant_gets_a_key_and_a_warning(merchant):
    merchant.status = MerchantStatus.SUSPENDED
    merchant.save()
    out, err = run("--merchant", "alpha", "--name", "n", "--scopes", "stores:read")
    assert "suspended: its keys are refused until it is reactivated" in err
    assert ApiKey.objects.count() == 1
