"""``manage.py import_sales --merchant SLUG --format FORMAT FILE [--mode skip-invalid]``.

Creates an import job and runs it here, in this process (no broker or worker needed), then prints the summary
and the errors. Exits with status 1 when the import failed or needs a store mapping.
"""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from merchants.models import Merchant
from sales.imports import import_job_create, import_job_run
from sales.models import ImportFormat, ImportMode, ImportStatus

ERRORS_SHOWN = 50


class Command(BaseCommand):
    help = "Import a sales file (Shopify, Square, generic CSV / JSON lines) for a merchant and wait for the result."

    def add_arguments(self, parser):
        parser.add_argument("file", help="path of the file to import")
        parser.add_argument("--merchant", required=True, help="the merchant's slug")
        parser.add_argument(
            "--format", choices=ImportFormat.values, default=None, help="the file's format (default: detect it)"
        )
        parser.add_argument("--mode", choices=ImportMode.values, default=ImportMode.ALL_OR_NOTHING)

    def handle(self, *args, **options):
        merchant = Merchant.objects.filter(slug=options["merchant"]).first()
        if merchant is None:
            raise CommandError(f"No merchant with slug {options['merchant']!r}.")
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        try:
            with path.open("rb") as handle:
                job = import_job_create(
                    merchant=merchant, file=handle, format=options["format"], mode=options["mode"], enqueue=False
                )
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None
        job = import_job_run(job.pk)
        self.stdout.write(
            f"Import #{job.pk} {job.status} ({job.format or 'unknown format'}, {job.mode}): "
            f"{job.rows_read} rows read, {job.orders_created} orders created, {job.orders_updated} updated, "
            f"{job.orders_unchanged} unchanged, {job.lines_written} lines written, {job.error_count} errors."
        )
        if job.error_message:
            self.stdout.write(job.error_message)
        if job.unknown_stores:
            self.stdout.write("Unknown stores: " + ", ".join(job.unknown_stores))
        errors = list(job.row_errors.all()[:ERRORS_SHOWN])
        for error in errors:
            column = f" {error.column}" if error.column else ""
            value = f" ({error.value!r})" if error.value else ""
            self.stdout.write(f"  row {error.row}{column}{value}: {error.reason}")
        if job.error_count > len(errors):
            self.stdout.write(f"  … and {job.error_count - len(errors)} more.")
        if job.status != ImportStatus.SUCCEEDED:
            raise CommandError(f"Import #{job.pk} {job.get_status_display().lower()}.", returncode=1)
