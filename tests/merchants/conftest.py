"""Helpers for the portal page tests: a client per role, and URLs of the merchant's pages."""

import pytest
from django.urls import reverse

from merchants.models import Role

ROLE_FIXTURES = {
    Role.OWNER: "owner_client",
    Role.ADMIN: "admin_member_client",
    Role.ANALYST: "analyst_client",
    Role.STORE_MANAGER: "store_manager_client",
}


@pytest.fixture
def client_as(request):
    """``client_as(Role.ANALYST)``: the signed-in client of that role in ``merchant``."""

    def make(role):
        return request.getfixturevalue(ROLE_FIXTURES[role])

    return make


def page_url(name: str, merchant, **kwargs) -> str:
    return reverse(f"merchants:{name}", kwargs={"merchant_slug": merchant.slug, **kwargs})


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Real hashing costs ~0.3 s per user; these tests are about pages, not about PBKDF2.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
