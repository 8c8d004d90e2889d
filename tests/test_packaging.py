"""``pip install .`` gives a working provider: the wheel carries the pages, the migrations and
the compiled catalogs, not only the Python modules (issue 7: the .mo files may be committed as
long as ``pip install .`` works on a fresh machine)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_carries_templates_migrations_and_translations(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
         "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("idp-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in sorted((ROOT / "templates").rglob("*.html")):
        assert f"idp/templates/{template.relative_to(ROOT / 'templates')}" in names
    for migration in sorted((ROOT / "migrations" / "versions").glob("*.py")):
        assert f"idp/migrations/versions/{migration.name}" in names
    assert "idp/migrations/env.py" in names
    assert "idp/translations/ja/LC_MESSAGES/messages.mo" in names
    assert "idp/static/countdown.js" in names
    # The benchmarks (idp/bench/) run from a checkout only: none of them is shipped.
    assert "idp/cli/__init__.py" in names
    assert not [name for name in names if name.startswith("idp/bench")]
