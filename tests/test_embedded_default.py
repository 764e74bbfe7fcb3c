"""The no-settings default (`make run`): SQLite and kombu's filesystem broker, no server needed."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_fresh_sqlite_database_migrates_and_seeds(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'db.sqlite3'}"

    def manage(*args):
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    migrated = manage("migrate", "--noinput")
    assert migrated.returncode == 0, migrated.stderr
    seeded = manage("seed_demo")
    assert seeded.returncode == 0, seeded.stderr
    assert "demo@newretail.local" in seeded.stdout
    again = manage("seed_demo")  # idempotent
    assert again.returncode == 0, again.stderr
    counted = manage(
        "shell",
        "-c",
        "from stores.models import Store; from catalog.models import Product; "
        "print(Store.objects.count(), Product.objects.count())",
    )
    stores, products = map(int, counted.stdout.strip().splitlines()[-1].split())
    assert stores >= 20
    assert products >= 500
