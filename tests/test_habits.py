"""The test suite's own habits (issue 16), checked by reading its source with ``ast``:

- no test module imports another test module: what several modules share lives in
  tests/support/ (or tests/helpers.py, tests/conftest.py), so that a test module can be
  moved, renamed or deleted without breaking another one, and pytest never imports a test
  module twice under two names;
- the shared modules (tests/support/, helpers, conftest...) import no test module either;
- the markers ``make test-fast`` filters on are registered, and the Makefile's fast lane
  filters on all of them."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
FAST_LANE_LEAVES_OUT = ("browser", "interop", "postgres", "slow")


def _is_test_module(name: str) -> bool:
    """``name`` is a dotted module name as written in an import (``tests.test_x``,
    ``test_x`` after a relative ``from .``)."""
    return name.split(".")[-1].startswith("test_")


def imported_test_modules(path: Path) -> list[str]:
    """The test modules that ``path`` imports, as ``line: module`` strings."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names if alias.name.startswith("tests.")]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            inside_tests = node.level > 0 or module == "tests" or module.startswith("tests.")
            if not inside_tests:
                continue
            # ``from tests.test_x import a`` / ``from .test_x import a``: the module;
            # ``from tests import test_x`` / ``from . import test_x``: the names.
            names = [module] if module not in ("", "tests") else []
            names += [f"{module}.{alias.name}" for alias in node.names]
        else:
            continue
        found += [f"{node.lineno}: {name}" for name in names if _is_test_module(name)]
    return found


def _test_modules() -> list[Path]:
    return sorted(TESTS.glob("test_*.py"))


def _shared_modules() -> list[Path]:
    """Every module of tests/ that is not a test module: tests/support/*, helpers.py,
    conftest.py, and the relying parties and browser helpers beside them."""
    return sorted(p for p in TESTS.rglob("*.py") if not p.name.startswith("test_"))


def test_the_checks_see_every_way_of_importing_a_test_module(tmp_path: Path) -> None:
    source = tmp_path / "test_sample.py"
    source.write_text(
        "import tests.test_a\n"
        "from tests.test_b import helper\n"
        "from .test_c import helper\n"
        "from tests import test_d, helpers\n"
        "from . import test_e\n"
        "def f():\n"
        "    from tests.test_f import late\n"
        "from tests.support.signin import make_rp\n"
        "from tests.helpers import Browser\n"
        "import test_not_ours_because_not_in_tests\n"
    )
    found = [line.split(": ")[1] for line in imported_test_modules(source)]
    assert sorted(found) == [
        ".test_e",
        "test_c",
        "tests.test_a",
        "tests.test_b",
        "tests.test_d",
        "tests.test_f",
    ]


def test_no_test_module_imports_another_test_module() -> None:
    offenders = {
        path.name: found for path in _test_modules() if (found := imported_test_modules(path))
    }
    assert offenders == {}, (
        "a test module imports another test module; move what they share to tests/support/"
    )


def test_the_shared_modules_import_no_test_module() -> None:
    assert _shared_modules(), "tests/support/ and tests/helpers.py are where shared code lives"
    offenders = {
        str(path.relative_to(TESTS)): found
        for path in _shared_modules()
        if (found := imported_test_modules(path))
    }
    assert offenders == {}


def test_the_fast_lane_leaves_out_every_marker_of_a_slow_or_outside_need() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    pytest_config = config["tool"]["pytest"]["ini_options"]
    registered = {line.split(":")[0].split("(")[0] for line in pytest_config["markers"]}
    assert set(FAST_LANE_LEAVES_OUT) <= registered
    assert "--strict-markers" in pytest_config["addopts"]
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    fast = re.search(r"^FAST := (.+)$", makefile, re.M)
    target = re.search(r"^test-fast:.*?(?=^\S|\Z)", makefile, re.M | re.S)
    assert fast and target, "make test-fast is missing"
    assert '-m "$(FAST)"' in target.group(0)
    for marker in FAST_LANE_LEAVES_OUT:
        assert f"not {marker}" in fast.group(1), marker
