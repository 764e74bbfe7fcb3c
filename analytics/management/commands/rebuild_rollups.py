"""``manage.py rebuild_rollups [--merchant SLUG]``: recompute the analytics rollups from raw order lines.

Set-based (one ``INSERT ... SELECT`` per rollup table, see ``analytics.services``); every merchant when no slug
is given. Refreshes and rebuilds of one merchant never overlap (an advisory lock).

``--only channelday,storemonth,...`` recomputes only those derived tables (``analytics.services.DERIVED``) from
the rollups they sum: seconds, for a newly added derived table, where a full rebuild takes many minutes at 10M
lines. ``--only first_dates`` copies each customer's first order day onto their ``CustomerDay`` and
``CustomerCategoryDay`` rows (after adding that column).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from analytics.services import ONLY_NAMES, rollups_rebuild, rollups_rebuild_derived
from merchants.models import Merchant


def merchants_from_option(slug: str | None) -> list[Merchant]:
    if slug is None:
        return list(Merchant.objects.order_by("pk"))
    merchant = Merchant.objects.filter(slug=slug).first()
    if merchant is None:
        raise CommandError(f"No merchant with slug {slug!r}.")
    return [merchant]


class Command(BaseCommand):
    help = "Recompute the analytics rollups from raw order lines (one merchant, or all)."

    def add_arguments(self, parser):
        parser.add_argument("--merchant", default=None, help="the merchant's slug (default: every merchant)")
        parser.add_argument(
            "--only",
            default=None,
            help=f"comma-separated derived tables to recompute from the other rollups: {', '.join(ONLY_NAMES)}",
        )

    def handle(self, *args, merchant=None, only=None, **options):
        names = [name.strip() for name in only.split(",") if name.strip()] if only else []
        unknown = sorted(set(names) - set(ONLY_NAMES))
        if unknown:
            raise CommandError(f"Unknown table(s) {', '.join(unknown)}: use {', '.join(ONLY_NAMES)}.")
        for each in merchants_from_option(merchant):
            if names:
                result = rollups_rebuild_derived(merchant_id=each.pk, names=names)
                self.stdout.write(f"{each.slug}: {', '.join(names)} recomputed in {result.seconds:.1f}s.")
                for name, seconds in result.steps:
                    self.stdout.write(f"  {name}: {seconds:.1f}s")
                continue
            result = rollups_rebuild(merchant_id=each.pk)
            self.stdout.write(
                f"{each.slug}: rollups rebuilt from {result.source_rows:,} source rows in {result.seconds:.1f}s."
            )
            if options["verbosity"] > 1:
                for name, seconds in result.steps:
                    self.stdout.write(f"  {name}: {seconds:.1f}s")
