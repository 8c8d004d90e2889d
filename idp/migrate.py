"""The Alembic helpers: the configuration for a database URL, and upgrading to the newest
revision. Used by ``idp db upgrade``, the development setup, the benchmarks and the tests.
Alembic is imported on use, which keeps ``idp --help`` quick."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask

from . import ROOT

if TYPE_CHECKING:
    from alembic.config import Config


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


def upgrade_database(app: Flask) -> None:
    """Apply every migration to the app's database (an SQLite file's folder is created)."""
    from alembic import command

    settings = app.extensions["idp.settings"]
    if settings.database_url.startswith("sqlite:///"):
        Path(settings.database_url.removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )
    command.upgrade(alembic_config(settings.database_url), "head")
