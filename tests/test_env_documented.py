"""Every environment variable the settings read is documented: in ``.env.example`` and in the README's table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = (ROOT / "config" / "settings.py").read_text()
# env("NAME", ...), env.str("NAME", ...), env.int(...), env.bool(...), env.list(...), env.db_url(...), ...
NAMES = sorted(set(re.findall(r"""\benv(?:\.[a-z_]+)?\(\s*["']([A-Z][A-Z0-9_]+)["']""", SETTINGS)))


def test_the_settings_read_variables_at_all():
    assert {"DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_variable_is_in_env_example(name):
    example = (ROOT / ".env.example").read_text()
    assert re.search(rf"^{name}=", example, re.MULTILINE), (
        f"{name} is read by config/settings.py: add it to .env.example"
    )


@pytest.mark.parametrize("name", NAMES)
def test_variable_is_in_readme_configuration_table(name):
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    assert f"`{name}`" in section, f"{name} is read by config/settings.py: add it to README.md's Configuration table"
