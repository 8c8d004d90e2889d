"""The Alembic helpers: the configuration for a database URL, and upgrading to the newest
revision. Used by ``idp db upgrade``, the development setup, the benchmarks and the tests.
Alembic is imported on use, which keeps ``idp --help`` quick.

On PostgreSQL an upgrade holds a session-level advisory lock, so that several processes
started at once (containers of one deployment, each running ``idp db upgrade`` before
``idp serve``) take turns: the first applies the migrations, the others wait, then find the
schema at the newest revision and apply nothing. SQLite needs no lock: Alembic's transaction
takes the database's write lock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask

from . import ROOT

if TYPE_CHECKING:
    from alembic.config import Config

#: The advisory-lock key of schema upgrades: a signed 64-bit number (the bytes ``idp_migr``),
#: unique within the database; ``pg_locks`` shows it split into ``classid`` and ``objid``.
MIGRATION_LOCK_KEY = 0x6964_705F_6D69_6772


def alembic_config(url: str) -> Config:
    """An Alembic configuration for ``url`` with the project's migrations."""
    from alembic.config import Config

    cfg = Config()
    # idp/migrations is a symlink to the top-level migrations/ folder, packaged in the wheel.
    packaged = Path(__file__).resolve().parent / "migrations"
    folder = packaged if packaged.is_dir() else ROOT / "migrations"
    cfg.set_main_option("script_location", str(folder))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


@contextmanager
def migration_lock(url: str) -> Iterator[None]:
    """Hold PostgreSQL's advisory lock for schema upgrades (waiting for it if another process
    holds it); on other databases, do nothing. The lock lives on a connection of its own and
    ends with it, so a process killed half-way never leaves it taken."""
    if not url.startswith("postgresql"):
        yield
        return
    from sqlalchemy import text

    from .db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
                conn.commit()
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    """The revision the database is at (None before the first migration)."""
    from alembic.runtime.migration import MigrationContext

    from .db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def upgrade_database(app: Flask) -> list[str]:
    """Apply every migration to the app's database (an SQLite file's folder is created).
    Returns the revisions applied, oldest first: empty when the schema was up to date."""
    from alembic import command
    from alembic.script import ScriptDirectory

    settings = app.extensions["idp.settings"]
    url = settings.database_url
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    cfg = alembic_config(url)
    script = ScriptDirectory.from_config(cfg)
    with migration_lock(url):
        start = current_revision(url)
        command.upgrade(cfg, "head")
    return [rev.revision for rev in reversed(list(script.iterate_revisions("head", start)))]
