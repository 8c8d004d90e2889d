"""The migrations are the schema: ``alembic upgrade head`` on an empty database yields exactly
the models' metadata (no autogenerate diff, types compared), on SQLite and - when
IDP_TEST_DATABASE_URL is set - on PostgreSQL, in a scratch database of its own. And
``idp db upgrade`` can run again and again."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

import idp.models  # noqa: F401  (registers every table on Base.metadata)
from idp.cli import alembic_config
from idp.db import Base, make_engine

pytestmark = pytest.mark.slow


def _upgrade_and_diff(url: str) -> list:
    command.upgrade(alembic_config(url), "head")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
            assert context.get_current_revision() == _head()
            tables = set(inspect(conn).get_table_names())
    finally:
        engine.dispose()
    assert set(Base.metadata.tables) <= tables
    return diff


def _head() -> str:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    heads = script.get_heads()
    assert len(heads) == 1, f"the migrations have several heads: {heads}"
    return heads[0]


def test_sqlite_upgrade_head_matches_the_models(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'migrated.sqlite3'}"
    assert _upgrade_and_diff(url) == []


@pytest.fixture
def scratch_postgres() -> Iterator[str]:
    """A PostgreSQL database of this test's own, created and dropped here; the main test
    database (IDP_TEST_DATABASE_URL) is only used to find the server."""
    raw = os.environ.get("IDP_TEST_DATABASE_URL")
    if not raw:
        pytest.skip("IDP_TEST_DATABASE_URL is not set (PostgreSQL runs in CI)")
    base = make_url(raw)
    assert base.get_backend_name() == "postgresql", raw
    name = f"idp_migration_check_{secrets.token_hex(6)}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield base.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def test_postgres_upgrade_head_matches_the_models(scratch_postgres: str):
    assert _upgrade_and_diff(scratch_postgres) == []


def test_idp_db_upgrade_twice_is_idempotent(tmp_path: Path):
    instance = tmp_path / "instance"
    url = f"sqlite:///{tmp_path / 'cli' / 'idp.sqlite3'}"
    env = {
        **os.environ,
        "IDP_INSTANCE_PATH": str(instance),
        "IDP_DATABASE_URL": url,
        "IDP_ENV": "development",
    }
    idp = Path(sys.executable).with_name("idp")
    assert idp.exists(), f"the idp command is not installed next to {sys.executable}"
    for _ in range(2):
        done = subprocess.run(
            [str(idp), "db", "upgrade"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "database is up to date" in done.stdout
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert context.get_current_revision() == _head()
            assert compare_metadata(context, Base.metadata) == []
            versions = conn.execute(text("SELECT count(*) FROM alembic_version")).scalar()
            assert versions == 1
    finally:
        engine.dispose()


def _upgrade_keeps_users(url: str) -> None:
    """Upgrading a database made by an earlier release keeps its users: those of 0001 come
    out of 0002 with ``email_verified`` false (nothing was vouched for)."""
    cfg = alembic_config(url)
    command.upgrade(cfg, "0001")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO realm (id, name, display_name, created_at) "
                    "VALUES (1, 'old', 'Old', CURRENT_TIMESTAMP)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO user_account (realm_id, sub, email, email_normalized, "
                    "display_name, password_hash, is_admin, disabled, created_at, "
                    "password_changed_at) VALUES (1, 'sub-1', 'a@example.com', "
                    "'a@example.com', 'A', 'x', false, false, CURRENT_TIMESTAMP, "
                    "CURRENT_TIMESTAMP)"
                )
            )
        command.upgrade(cfg, "head")
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT email, email_verified FROM user_account")).all()
    finally:
        engine.dispose()
    assert [(email, bool(flag)) for email, flag in rows] == [("a@example.com", False)]


def test_sqlite_upgrade_from_0001_keeps_users(tmp_path: Path):
    _upgrade_keeps_users(f"sqlite:///{tmp_path / 'old.sqlite3'}")


def test_postgres_upgrade_from_0001_keeps_users(scratch_postgres: str):
    _upgrade_keeps_users(scratch_postgres)


def _upgrade_keeps_queued_mail(url: str) -> None:
    """Issue 16: the mail outbox becomes the outbox; a message queued before the upgrade
    survives it as kind ``mail``, with its address, template, language, encrypted parameters
    and state, and new messages get new ids (PostgreSQL's sequence continues after it)."""
    cfg = alembic_config(url)
    command.upgrade(cfg, "0009")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO realm (id, name, display_name, created_at) "
                    "VALUES (1, 'old', 'Old', CURRENT_TIMESTAMP)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO mail_outbox (id, realm_id, to_address, template, params, "
                    "locale, status, attempts, created_at, next_attempt_at, last_error) "
                    "VALUES (41, 1, 'a@example.com', 'password_reset', 'ENCRYPTED', 'ja', "
                    "'pending', 2, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 'SMTPError: 451')"
                )
            )
        command.upgrade(cfg, "head")
        with engine.begin() as conn:
            rows = conn.execute(
                text(
                    "SELECT id, kind, recipient, topic, payload, locale, status, attempts, "
                    "last_error FROM outbox"
                )
            ).all()
            new_id = conn.execute(
                text(
                    "INSERT INTO outbox (kind, realm_id, recipient, topic, status, attempts, "
                    "created_at, next_attempt_at) VALUES ('mail', 1, 'b@example.com', "
                    "'invitation', 'pending', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP) "
                    "RETURNING id"
                )
            ).scalar_one()
            assert "mail_outbox" not in inspect(conn).get_table_names()
        command.downgrade(cfg, "0009")
        with engine.connect() as conn:
            back = conn.execute(
                text("SELECT id, to_address, template, params, locale FROM mail_outbox")
            ).all()
        command.upgrade(cfg, "head")
    finally:
        engine.dispose()
    assert [tuple(r) for r in rows] == [
        (
            41,
            "mail",
            "a@example.com",
            "password_reset",
            "ENCRYPTED",
            "ja",
            "pending",
            2,
            "SMTPError: 451",
        )
    ]
    assert new_id > 41
    assert sorted(tuple(r) for r in back) == [
        (41, "a@example.com", "password_reset", "ENCRYPTED", "ja"),
        (new_id, "b@example.com", "invitation", None, "en"),
    ]


def test_sqlite_upgrade_keeps_queued_mail(tmp_path: Path):
    _upgrade_keeps_queued_mail(f"sqlite:///{tmp_path / 'mail.sqlite3'}")


def test_postgres_upgrade_keeps_queued_mail(scratch_postgres: str):
    _upgrade_keeps_queued_mail(scratch_postgres)
