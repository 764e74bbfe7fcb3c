"""The shared shape of the ``import_*`` management commands (stores, products, later sales and rules)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from merchants.models import Merchant

from .csv_import import ImportMode, ImportResult


class ImportCommand(BaseCommand):
    """``manage.py import_<kind> --merchant SLUG FILE [--mode skip-invalid] [--actor EMAIL]``.

    Prints a summary and every error (row, column, value, reason); exits non-zero when the file had any error,
    even in skip-invalid mode where the valid rows were written.
    """

    kind = "rows"

    def import_file(self, *, merchant: Merchant, file, actor, mode: str) -> ImportResult:  # pragma: no cover
        raise NotImplementedError

    def add_arguments(self, parser):
        parser.add_argument("--merchant", required=True, help="Slug of the merchant to import into.")
        parser.add_argument("file", help="Path of the CSV file (UTF-8), or - to read standard input.")
        parser.add_argument(
            "--mode",
            choices=[mode.value for mode in ImportMode],
            default=ImportMode.ALL_OR_NOTHING.value,
            help="all-or-nothing (default): write nothing unless every row is valid; "
            "skip-invalid: write the valid rows and report the others.",
        )
        parser.add_argument("--actor", help="E-mail of the user to record in the audit log (optional).")

    def handle(self, *args, merchant: str, file: str, mode: str, actor: str | None, **options):
        merchant_obj = Merchant.objects.filter(slug=merchant).first()
        if merchant_obj is None:
            raise CommandError(f"No merchant with slug {merchant}.")
        user = None
        if actor:
            user = get_user_model().objects.filter(email__iexact=actor).first()
            if user is None:
                raise CommandError(f"No user with e-mail {actor}.")
        result = self._run(
            file, lambda handle: self.import_file(merchant=merchant_obj, file=handle, actor=user, mode=mode)
        )
        self.stdout.write(f"{merchant_obj.slug}: {result.summary()}")
        for error in result.errors:
            self.stderr.write(f"  {error}")
        if result.errors:
            raise CommandError(f"{result.error_count} error(s) in {result.file_name or 'the file'}.")

    @staticmethod
    def _run(file: str, run: Callable) -> ImportResult:
        if file == "-":
            return run(sys.stdin.buffer)
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"No such file: {file}")
        with path.open("rb") as handle:
            return run(handle)
