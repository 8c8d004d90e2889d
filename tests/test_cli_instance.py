"""``idp`` run where there is no instance folder (issue 15, "First use"): it refuses, names
IDP_INSTANCE_PATH and the folder it looked for, and creates nothing, instead of making a
second, empty installation with new secrets. Creating one is explicit: ``idp db upgrade``
with IDP_INSTANCE_PATH set (or ``idp dev``, the development setup)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

IDP = str(Path(sys.executable).parent / "idp")


def _env(**extra: str) -> dict[str, str]:
    """The shell of an operator with none of the provider's settings (PYTHONPATH passes)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDP_", "LC_", "LANG"))}
    return env | {"LANG": "C.UTF-8"} | extra


def _idp(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(  # our own command
        [IDP, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def _refused(done: subprocess.CompletedProcess, looked_at: Path) -> None:
    assert done.returncode != 0, (done.stdout, done.stderr)
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    assert done.stderr.startswith("Error: "), done.stderr
    assert "IDP_INSTANCE_PATH" in done.stderr, done.stderr
    assert str(looked_at) in done.stderr, done.stderr


def test_outside_the_checkout_idp_refuses_and_creates_nothing(tmp_path: Path) -> None:
    here = tmp_path / "somewhere"
    here.mkdir()
    for args in (("realm", "show", "main"), ("user", "list"), ("db", "upgrade")):
        done = _idp(here, _env(), *args)
        _refused(done, here / "instance")
        assert list(here.iterdir()) == [], args  # no ./instance, no database, no secrets
    # The advice is the explicit way to make a new installation, not a bare `idp db upgrade`.
    assert "IDP_INSTANCE_PATH=" in done.stderr and "idp db upgrade" in done.stderr


def test_a_mistyped_instance_path_is_refused_too(tmp_path: Path) -> None:
    wrong = tmp_path / "instanse"
    done = _idp(tmp_path, _env(IDP_INSTANCE_PATH=str(wrong)), "realm", "show", "main")
    _refused(done, wrong)
    assert not wrong.exists()


def test_the_refusal_speaks_the_shells_language(tmp_path: Path) -> None:
    done = _idp(tmp_path, _env(LANG="ja_JP.UTF-8"), "realm", "show", "main")
    _refused(done, tmp_path / "instance")
    assert "インスタンス" in done.stderr, done.stderr


def test_an_explicit_instance_path_creates_the_installation_and_then_works(
    tmp_path: Path,
) -> None:
    instance = tmp_path / "instance"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = _env(IDP_INSTANCE_PATH=str(instance))
    created = _idp(elsewhere, env, "db", "upgrade")
    assert created.returncode == 0, created.stderr
    assert (instance / "secrets.json").is_file() and (instance / "idp.sqlite3").is_file()
    added = _idp(elsewhere, env, "realm", "add", "main", "--display-name", "Main")
    assert added.returncode == 0, added.stderr
    shown = _idp(elsewhere, env, "realm", "show", "main", "--json")
    assert shown.returncode == 0, shown.stderr
    assert '"main"' in shown.stdout
    assert list(elsewhere.iterdir()) == []  # nothing made where the command ran
    # From the folder that holds instance/ (a checkout), no setting is needed.
    again = _idp(tmp_path, _env(), "realm", "show", "main")
    assert again.returncode == 0, again.stderr


def test_without_an_instance_folder_when_nothing_needs_one(tmp_path: Path) -> None:
    """Production as the README runs it: the database URL and every secret in the
    environment, no instance folder at all."""
    env = _env(
        IDP_DATABASE_URL=f"sqlite:///{tmp_path / 'prod.sqlite3'}",
        IDP_SECRET_KEY="s" * 40,
        IDP_DATA_KEYS="ZmFrZS1rZXktZmFrZS1rZXktZmFrZS1rZXktZmFrZSE=",
        IDP_CODE_PEPPER="p" * 40,
    )
    assert _idp(tmp_path, env, "db", "upgrade").returncode == 0
    added = _idp(tmp_path, env, "realm", "add", "main")
    assert added.returncode == 0, added.stderr
    assert not (tmp_path / "instance").exists()


# -- an empty setting, an empty folder (outside review of the first-use fix, finding F4) ---------
def test_an_empty_instance_path_counts_as_unset(tmp_path: Path) -> None:
    """``IDP_INSTANCE_PATH=`` (set, but empty) is ./instance, as if unset: refused where there
    is none, and nothing is made in the current directory (before: "database error: no such
    table: realm", with idp.sqlite3 and secrets.json left behind)."""
    here = tmp_path / "empty"
    here.mkdir()
    for args in (("user", "list"), ("realm", "show", "main"), ("db", "upgrade")):
        done = _idp(here, _env(IDP_INSTANCE_PATH=""), *args)
        _refused(done, here / "instance")
        assert "IDP_INSTANCE_PATH is not set" in done.stderr, done.stderr
        assert list(here.iterdir()) == [], args


def test_a_folder_without_an_installation_is_refused(tmp_path: Path) -> None:
    """An existing folder that holds neither idp.sqlite3 nor secrets.json is no installation:
    refused as a missing one, and left empty; ``idp db upgrade`` naming it makes one there."""
    data = tmp_path / "data"
    data.mkdir()
    env = _env(IDP_INSTANCE_PATH=str(data))
    for args in (("user", "list"), ("realm", "show", "main")):
        done = _idp(tmp_path, env, *args)
        _refused(done, data)
        assert "no installation" in done.stderr, done.stderr
        assert list(data.iterdir()) == [], args
    # ./instance as an empty folder, without the setting: the same.
    (tmp_path / "instance").mkdir()
    done = _idp(tmp_path, _env(), "user", "list")
    _refused(done, tmp_path / "instance")
    assert list((tmp_path / "instance").iterdir()) == []

    created = _idp(tmp_path, env, "db", "upgrade")
    assert created.returncode == 0, created.stderr
    assert (data / "secrets.json").is_file() and (data / "idp.sqlite3").is_file()
    listed = _idp(tmp_path, env, "user", "list")
    assert listed.returncode != 0 and "realm" in listed.stderr  # no realm "main" yet
    assert "no such table" not in listed.stderr and "no installation" not in listed.stderr
    assert _idp(tmp_path, env, "realm", "add", "main").returncode == 0
    assert _idp(tmp_path, env, "user", "list").returncode == 0


def test_a_database_url_with_secrets_json_in_the_folder_works(tmp_path: Path) -> None:
    """The database elsewhere, the secrets generated into the folder (as the image keeps
    them in /data): the folder holds an installation once secrets.json is there."""
    data = tmp_path / "data"
    data.mkdir()
    env = _env(IDP_INSTANCE_PATH=str(data), IDP_DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert _idp(tmp_path, env, "db", "upgrade").returncode == 0
    assert [p.name for p in data.iterdir()] == ["secrets.json"]
    added = _idp(tmp_path, env, "realm", "add", "main")
    assert added.returncode == 0, added.stderr
