"""Staff actors of the admin tests."""

import pytest
from django.test import Client

from ..factories import UserFactory


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2 at full strength costs ~0.5 s per user created; these tests are not about hashing.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def staff_user(db):
    return UserFactory(email="staff@newretail.test", full_name="Sam Staff", is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(staff_user):
    client = Client()
    client.force_login(staff_user)
    client.user = staff_user
    return client
