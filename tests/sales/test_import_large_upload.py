"""A 200 MB upload over real HTTP: Django streams it to disk (the web process never holds it), the API answers 202
with the job, and the job fails with a clear error about the file, having written nothing. (Parsing a whole big
export in flat memory is tests/sales/test_parsers_streaming.py; the throughput of a full import is a benchmark.)"""

from __future__ import annotations

import http.client
import json
import os
import tracemalloc
from urllib.parse import urlsplit

import pytest

from sales.imports import import_job_run
from sales.models import ImportJob, ImportStatus, Order

from .test_import_jobs import HEADER

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SIZE = 200 * 1024 * 1024
BOUNDARY = "----nr-large-upload-boundary"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def _multipart_file(path, header: bytes, filler: bytes, size: int) -> int:
    """A multipart/form-data body on disk (format field + a ``size``-byte file of ``header`` then ``filler``)."""
    with open(path, "wb") as body:
        body.write(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="format"\r\n\r\ngeneric-csv\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n".encode()
        )
        body.write(header)
        block = filler * (1024 * 1024 // len(filler))
        written = len(header)
        while written < size:
            part = block[: size - written]
            body.write(part)
            written += len(part)
        body.write(f"\r\n--{BOUNDARY}--\r\n".encode())
    return os.path.getsize(path)


def _post(live_server, raw_key: str, path) -> tuple[int, dict]:
    server = urlsplit(live_server.url)
    connection = http.client.HTTPConnection(server.hostname, server.port, timeout=300)
    with open(path, "rb") as body:
        connection.request(
            "POST",
            "/api/v1/imports/",
            body=body,
            headers={
                "Authorization": f"Bearer {raw_key}",
                "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                "Content-Length": str(os.path.getsize(path)),
            },
        )
    response = connection.getresponse()
    status, data = response.status, json.loads(response.read() or b"{}")
    connection.close()
    return status, data


@pytest.mark.parametrize(
    ("case", "header", "filler", "reason"),
    [
        # every data row is fine but the header misses required columns: named, and nothing is read further
        (
            "wrong header",
            b"order_id,placed_at,channel\n",
            b"W-1,2026-09-03T10:14:00+02:00,online\n",
            "missing required column(s)",
        ),
        # the right header, then 200 MB of bytes that are not text
        ("not text", HEADER.encode(), bytes(range(256)) * 4, "Not a CSV file: it contains binary data"),
    ],
)
def test_a_200_mb_upload_streams_to_disk_and_fails_clearly(
    live_server, api_client, merchant, tmp_path, case, header, filler, reason
):
    # Given a 200 MB file
    body = tmp_path / "body.multipart"
    assert _multipart_file(body, header, filler, SIZE) > SIZE

    # When it is posted over HTTP to the imports API (the live server runs in this process: its memory is traced)
    tracemalloc.start()
    try:
        status, data = _post(live_server, api_client.raw_key, body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # Then it is accepted as a job, and the upload never sat in memory
    assert status == 202, data
    assert peak < 30 * 1024 * 1024, f"{case}: the upload used {peak / 1e6:.0f} MB of Python memory"
    job = ImportJob.objects.get(pk=data["id"], merchant=merchant)
    assert job.file.size == SIZE

    # When the job runs, it fails with a clear message about the file, and nothing was written
    job = import_job_run(job.pk)
    assert job.status == ImportStatus.FAILED, (case, job.status)
    messages = job.error_message + " ".join(error.reason for error in job.row_errors.all()[:5])
    assert reason in messages, (case, messages)
    assert not Order.objects.filter(merchant=merchant).exists()
