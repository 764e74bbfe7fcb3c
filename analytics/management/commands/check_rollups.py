"""``manage.py check_rollups [--merchant SLUG]``: recompute the rollups from raw lines (in temporary tables,
nothing written) and compare with the stored rows. Prints each difference; exits 1 when there is any."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand

from analytics.services import rollups_check

from .rebuild_rollups import merchants_from_option


class Command(BaseCommand):
    help = "Compare the analytics rollups with raw order lines; exit status 1 on any difference."

    def add_arguments(self, parser):
        parser.add_argument("--merchant", default=None, help="the merchant's slug (default: every merchant)")
        parser.add_argument("--samples", type=int, default=5, help="differing rows shown per table (default 5)")

    def handle(self, *args, merchant=None, samples=5, **options):
        failed = False
        for each in merchants_from_option(merchant):
            differences = rollups_check(merchant_id=each.pk, samples=samples)
            if not differences:
                self.stdout.write(f"{each.slug}: rollups agree with the raw lines.")
                continue
            failed = True
            for difference in differences:
                self.stdout.write(
                    f"{each.slug}: {difference.table}: {difference.missing} missing, "
                    f"{difference.unexpected} unexpected row(s)"
                )
                for sample in difference.samples:
                    self.stdout.write(f"    {sample}")
        if failed:
            self.stdout.write("Run `manage.py rebuild_rollups --merchant SLUG` to recompute them.")
            sys.exit(1)
