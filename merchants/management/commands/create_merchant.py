"""``manage.py create_merchant SLUG --name NAME --currency EUR --timezone Europe/Paris --owner EMAIL``

Creates a merchant and makes EMAIL its owner, creating that user (without a password) if needed, then prints
a link where the new owner sets a password (the password-reset confirm page, valid for
``PASSWORD_RESET_TIMEOUT``).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from merchants.models import RESERVED_SLUGS, Merchant, slug_validator, validate_currency, validate_timezone
from merchants.services import merchant_create

User = get_user_model()


def password_set_url(user) -> str:
    """The password-reset confirm link for ``user``: how an owner created here chooses a password."""
    uidb64 = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return settings.SITE_URL + reverse("accounts:password-reset-confirm", kwargs={"uidb64": uidb64, "token": token})


def _messages(error: ValidationError) -> str:
    return " ".join(error.messages)


class Command(BaseCommand):
    help = (
        "Create a merchant with EMAIL as its owner (the user is created, without a password, if needed) and "
        "print a link for the owner to set a password."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="URL name of the merchant, e.g. maison-lune (the portal is /m/SLUG/).")
        parser.add_argument("--name", required=True, help="Brand name shown in the portal.")
        parser.add_argument("--currency", default="EUR", help="ISO 4217 code of every sale (default EUR).")
        parser.add_argument(
            "--timezone", dest="timezone_name", default="Europe/Paris", help="IANA time zone (default Europe/Paris)."
        )
        parser.add_argument("--owner", required=True, metavar="EMAIL", help="E-mail address of the owner.")

    def handle(self, *args, slug: str, name: str, currency: str, timezone_name: str, owner: str, **options):
        name, currency, email = name.strip(), currency.strip().upper(), owner.strip().lower()
        self._validate(slug=slug, name=name, currency=currency, timezone_name=timezone_name, email=email)

        with transaction.atomic():
            user = User.objects.filter(email__iexact=email).first()
            created_user = user is None
            if created_user:
                user = User.objects.create_user(email=email)  # no password: an unusable one
            try:
                merchant = merchant_create(
                    name=name, owner=user, slug=slug, currency=currency, timezone_name=timezone_name
                )
            except ValidationError as error:
                raise CommandError(f"Could not create the merchant: {_messages(error)}") from error

        self.stdout.write(
            self.style.SUCCESS(
                f"Created merchant “{merchant.name}” ({merchant.slug}): {merchant.currency}, {merchant.timezone}."
            )
        )
        self.stdout.write(f"Portal: {settings.SITE_URL}{reverse('merchants:home', args=[merchant.slug])}")
        if user.has_usable_password():
            self.stdout.write(f"Owner: {user.email} (existing user: signs in with their current password).")
        else:
            state = "new user" if created_user else "existing user without a password"
            self.stdout.write(f"Owner: {user.email} ({state}).")
            self.stdout.write(
                f"Send this link to the owner to set a password "
                f"(valid {settings.PASSWORD_RESET_TIMEOUT // 86400} days, once):"
            )
            self.stdout.write(password_set_url(user))

    def _validate(self, *, slug: str, name: str, currency: str, timezone_name: str, email: str) -> None:
        """Check every argument and report every problem at once."""
        problems = []
        try:
            slug_validator(slug)
        except ValidationError as error:
            problems.append(f"slug “{slug}”: {_messages(error)}")
        else:
            if slug in RESERVED_SLUGS:
                problems.append(f"slug “{slug}” is reserved by the portal's URLs; choose another.")
            elif Merchant.objects.filter(slug=slug).exists():
                problems.append(f"slug “{slug}” is already taken by another merchant.")
        if not name:
            problems.append("--name must not be empty.")
        elif len(name) > Merchant._meta.get_field("name").max_length:
            problems.append(f"--name is longer than {Merchant._meta.get_field('name').max_length} characters.")
        for validator, value, option in (
            (validate_currency, currency, "--currency"),
            (validate_timezone, timezone_name, "--timezone"),
            (validate_email, email, "--owner"),
        ):
            try:
                validator(value)
            except ValidationError as error:
                problems.append(f"{option}: {_messages(error)}")
        if problems:
            raise CommandError("Nothing was created:\n  - " + "\n  - ".join(problems))
