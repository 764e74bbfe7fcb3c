"""``manage.py create_api_key --merchant SLUG --name NAME --scopes stores:read,stores:write ...``

Creates an API key for a merchant and prints it. The key is shown this once: only its hash and a visible
prefix are stored. With ``-v 0`` only the key is printed (for scripts: ``KEY=$(manage.py create_api_key ...)``).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from merchants.models import ApiScope, Merchant
from merchants.services import api_key_create


def parse_scopes(values: list[str]) -> list[str]:
    """``["stores:read,stores:write", "catalog:read"]`` → the scopes, in order, once each; ``all`` = every one."""
    scopes = [scope.strip() for value in values for scope in value.split(",") if scope.strip()]
    if "all" in scopes:
        return list(ApiScope.values)
    return list(dict.fromkeys(scopes))


class Command(BaseCommand):
    help = "Create an API key for a merchant and print it (shown once: only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("--merchant", required=True, metavar="SLUG", help="The merchant's slug.")
        parser.add_argument("--name", required=True, help="What the key is for, e.g. “Shopify sync”.")
        parser.add_argument(
            "--scopes",
            required=True,
            nargs="+",
            metavar="SCOPE",
            help=f"Comma- or space-separated scopes, or “all”. Known: {', '.join(ApiScope.values)}.",
        )

    def handle(self, *args, merchant: str, name: str, scopes: list[str], verbosity: int = 1, **options):
        found = Merchant.objects.filter(slug=merchant.strip().lower()).first()
        if found is None:
            raise CommandError(f"No merchant with slug “{merchant}”.")
        if not name.strip():
            raise CommandError("Give the key a name (--name).")
        try:
            api_key, raw_key = api_key_create(merchant=found, name=name, scopes=parse_scopes(scopes))
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from error

        if verbosity == 0:
            self.stdout.write(raw_key)
            return
        if not found.is_active:
            self.stderr.write(
                self.style.WARNING(f"{found.name} is suspended: its keys are refused until it is reactivated.")
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Created API key “{api_key.name}” ({api_key.prefix}…) for {found.name} ({found.slug}) "
                f"with scopes {', '.join(api_key.scopes)}."
            )
        )
        self.stdout.write("The key is shown only now; store it safely (only its hash is kept):")
        self.stdout.write(raw_key)
        self.stdout.write(f"Use it as: Authorization: Bearer {api_key.prefix}…")
