"""``manage.py create_merchant``: a merchant, its owner, and a link for the owner to set a password."""

import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import resolve

from merchants.models import AuditAction, AuditEvent, Membership, Merchant, Role

from ..factories import MerchantFactory, UserFactory

pytestmark = pytest.mark.django_db

User = get_user_model()


def run(*args: str) -> str:
    out = StringIO()
    call_command("create_merchant", *args, stdout=out)
    return out.getvalue()


def test_creates_merchant_and_new_owner_with_a_password_set_link(settings):
    # Given no user with that e-mail
    settings.SITE_URL = "https://portal.example.com"

    # When an operator creates a merchant
    output = run(
        "maison-lune",
        "--name",
        "Maison Lune",
        "--currency",
        "gbp",
        "--timezone",
        "Europe/London",
        "--owner",
        "Owner@Lune.example",
    )

    # Then the merchant exists with its owner, a user without a usable password, and the audit row
    merchant = Merchant.objects.get(slug="maison-lune")
    assert (merchant.name, merchant.currency, merchant.timezone, merchant.status) == (
        "Maison Lune",
        "GBP",
        "Europe/London",
        "active",
    )
    owner = User.objects.get(email="owner@lune.example")
    assert not owner.has_usable_password()
    assert list(Membership.objects.filter(merchant=merchant).values_list("user__email", "role")) == [
        ("owner@lune.example", Role.OWNER)
    ]
    assert AuditEvent.objects.filter(merchant=merchant, action=AuditAction.MERCHANT_CREATED).count() == 1

    # And the output gives the portal and a working password-set link on SITE_URL
    lines = output.splitlines()
    assert lines[0] == "Created merchant “Maison Lune” (maison-lune): GBP, Europe/London."
    assert lines[1] == "Portal: https://portal.example.com/m/maison-lune/"
    assert lines[2] == "Owner: owner@lune.example (new user)."
    assert lines[3] == "Send this link to the owner to set a password (valid 3 days, once):"
    match = re.fullmatch(r"https://portal\.example\.com(/accounts/password/reset/[^/]+/[^/]+/)", lines[4])
    assert match, lines[4]
    route = resolve(match.group(1))
    assert route.view_name == "accounts:password-reset-confirm"
    assert default_token_generator.check_token(owner, route.kwargs["token"])


def test_the_printed_link_lets_the_new_owner_choose_a_password():
    # Given a merchant created for a new owner
    output = run("lune", "--name", "Lune", "--owner", "owner@lune.example")
    path = re.search(r"https?://[^/]+(/accounts/password/reset/\S+)", output).group(1)

    # When the owner opens the link and sets a password
    client = Client()
    form_page = client.get(path, follow=True)
    done = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "a-long-unusual-passphrase", "new_password2": "a-long-unusual-passphrase"},
    )

    # Then the password is set and they can sign in
    assert done.status_code == 302
    owner = User.objects.get(email="owner@lune.example")
    assert owner.check_password("a-long-unusual-passphrase")


def test_existing_owner_keeps_their_account_and_password(password):
    # Given a user who already has an account (say, owner of another merchant)
    user = UserFactory(email="agency@example.com")

    # When an operator makes them owner of a new merchant (any case in the e-mail)
    output = run("nova", "--name", "Nova", "--owner", "AGENCY@example.com")

    # Then no user is created, they own the merchant and no password link is printed
    assert User.objects.filter(email__iexact="agency@example.com").count() == 1
    assert Membership.objects.get(merchant__slug="nova").user == user
    user.refresh_from_db()
    assert user.check_password(password)
    assert "Owner: agency@example.com (existing user: signs in with their current password)." in output
    assert "/accounts/password/reset/" not in output


def test_existing_user_without_password_gets_a_link():
    User.objects.create_user(email="invited@example.com")

    output = run("nova", "--name", "Nova", "--owner", "invited@example.com")

    assert "Owner: invited@example.com (existing user without a password)." in output
    assert "/accounts/password/reset/" in output


@pytest.mark.parametrize(
    ("case", "args", "message"),
    [
        ("bad currency", ["lune", "--name", "Lune", "--currency", "EURO"], "--currency: “EURO” is not an ISO 4217"),
        ("bad timezone", ["lune", "--name", "Lune", "--timezone", "Mars/Olympus"], "--timezone: “Mars/Olympus”"),
        ("slug taken", ["taken", "--name", "Lune"], "slug “taken” is already taken by another merchant."),
        ("reserved slug", ["admin", "--name", "Lune"], "slug “admin” is reserved"),
        ("invalid slug", ["Lune Brand", "--name", "Lune"], "slug “Lune Brand”: Use 1–50 lower-case letters"),
        ("empty name", ["lune", "--name", "  "], "--name must not be empty."),
        ("bad e-mail", ["lune", "--name", "Lune", "--owner", "not-an-email"], "--owner: Enter a valid email"),
    ],
)
def test_bad_arguments_are_refused_and_nothing_is_created(case, args, message):
    # Given a merchant that holds the slug "taken"
    MerchantFactory(slug="taken", name="Taken")
    if "--owner" not in args:
        args = [*args, "--owner", "owner@lune.example"]

    # When the command runs with a bad argument
    with pytest.raises(CommandError) as error:
        run(*args)

    # Then it says what is wrong, and nothing was created
    assert str(error.value).startswith("Nothing was created:\n  - ")
    assert message in str(error.value)
    assert list(Merchant.objects.values_list("slug", flat=True)) == ["taken"]
    assert not User.objects.exists()


def test_every_problem_is_reported_at_once():
    with pytest.raises(CommandError) as error:
        run("Bad Slug", "--name", "X", "--currency", "XYZ1", "--timezone", "Nowhere", "--owner", "nope")

    assert str(error.value).count("\n  - ") == 4
