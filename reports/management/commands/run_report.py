"""``manage.py run_report --merchant SLUG --kind KIND --from DATE --to DATE [--channel C] [--store CODE ...]
--format csv|xlsx --output FILE``.

Builds the report here, in this process (no broker or worker needed), through the same service as the page and
the API, copies the file to ``--output`` and prints the rows and the path. Exits with status 1 on failure.
"""

from __future__ import annotations

import shutil

from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError

from merchants.models import Merchant, Role
from merchants.tenancy import Tenant
from reports.models import ReportFormat, ReportKind, ReportStatus
from reports.services import report_job_create, report_job_run


class Command(BaseCommand):
    help = "Build a report for a merchant, wait for it and write it to a file."

    def add_arguments(self, parser):
        parser.add_argument("--merchant", required=True, help="the merchant's slug")
        parser.add_argument("--kind", required=True, choices=ReportKind.values)
        parser.add_argument("--from", dest="date_from", help="first local day (YYYY-MM-DD)")
        parser.add_argument("--to", dest="date_to", help="last local day (YYYY-MM-DD), inclusive")
        parser.add_argument("--channel", choices=["online", "offline"])
        parser.add_argument("--store", action="append", default=[], help="a store code (repeatable)")
        parser.add_argument("--category", help="a category name")
        parser.add_argument("--interval", choices=["day", "week", "month"], help="sales-summary only")
        parser.add_argument("--import-job", type=int, help="import-errors only: the import's id")
        parser.add_argument("--format", choices=ReportFormat.values, default=ReportFormat.CSV)
        parser.add_argument("--gzip", action="store_true", help="gzip the CSV")
        parser.add_argument("--output", required=True, help="where to write the file")

    def handle(self, *args, **options):
        merchant = Merchant.objects.filter(slug=options["merchant"]).first()
        if merchant is None:
            raise CommandError(f"No merchant with slug {options['merchant']!r}.")
        params = {
            "from": options["date_from"],
            "to": options["date_to"],
            "channel": options["channel"],
            "store": options["store"],
            "category": options["category"],
            "interval": options["interval"],
            "import_job": options["import_job"],
        }
        try:
            job, _ = report_job_create(
                tenant=Tenant(merchant=merchant, role=Role.ADMIN),
                kind=options["kind"],
                format=options["format"],
                gzip=options["gzip"],
                params={key: value for key, value in params.items() if value not in (None, [], "")},
                dispatch=False,
            )
        except ValidationError as error:
            raise CommandError(
                "; ".join(f"{key}: {', '.join(v)}" for key, v in error.message_dict.items())
                if hasattr(error, "error_dict")
                else "; ".join(error.messages)
            ) from None
        job = report_job_run(job.pk)
        if job.status != ReportStatus.SUCCEEDED:
            raise CommandError(
                f"Report #{job.pk} {job.get_status_display().lower()}: {job.error_message}", returncode=1
            )
        with default_storage.open(job.file.name, "rb") as source, open(options["output"], "wb") as target:
            shutil.copyfileobj(source, target, 1 << 20)
        self.stdout.write(
            f"Report #{job.pk} {job.kind}: {job.rows} rows, {job.bytes} bytes, sha256 {job.sha256}, "
            f"data as of {job.data_as_of:%Y-%m-%d %H:%M:%S%z} -> {options['output']}"
        )
