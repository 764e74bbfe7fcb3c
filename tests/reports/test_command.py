"""``manage.py run_report``: builds the report in this process, writes the file, exits non-zero on failure."""

from __future__ import annotations

import hashlib

import pytest
from django.core.management import CommandError, call_command

from reports.models import ReportJob

from .conftest import ingest, line, order

pytestmark = pytest.mark.django_db


def test_run_report_writes_the_file_and_prints_rows_and_path(merchant, shop, tmp_path, capsys):
    ingest(merchant, order("P-1", "2024-05-04T10:00:00+00:00", [line("TEE-1", "2")], store="PAR-01"))
    output = tmp_path / "lines.csv"
    call_command(
        "run_report", "--merchant", "alpha", "--kind", "order-lines", "--from", "2024-05-01", "--to", "2024-05-31",
        "--store", "PAR-01", "--format", "csv", "--output", str(output),
    )  # fmt: skip
    job = ReportJob.objects.get()
    out = capsys.readouterr().out
    assert out.startswith(f"Report #{job.pk} order-lines: 1 rows, {job.bytes} bytes, sha256 {job.sha256}, data as of ")
    assert out.rstrip().endswith(f"-> {output}")
    assert hashlib.sha256(output.read_bytes()).hexdigest() == job.sha256
    assert output.read_text().splitlines()[1].startswith("api,P-1,completed,offline,PAR-01,2024-05-04,")


@pytest.mark.parametrize(
    ("_case", "arguments", "message"),
    [
        ("unknown merchant", ["--merchant", "nope", "--kind", "order-lines"], "No merchant with slug 'nope'."),
        (
            "bad range",
            ["--merchant", "alpha", "--kind", "order-lines", "--from", "2024-05-31", "--to", "2024-05-01"],
            "to: “to” (2024-05-01) is before “from” (2024-05-31).",
        ),
        (
            "unknown store",
            [
                "--merchant",
                "alpha",
                "--kind",
                "order-lines",
                "--from",
                "2024-05-01",
                "--to",
                "2024-05-31",
                "--store",
                "ZZZ",
            ],
            "store: Unknown store code(s): ZZZ.",
        ),  # fmt: skip
    ],
)
def test_run_report_refuses_bad_input(merchant, tmp_path, _case, arguments, message):
    with pytest.raises(CommandError) as raised:
        call_command("run_report", *arguments, "--output", str(tmp_path / "x.csv"))
    assert str(raised.value) == message
