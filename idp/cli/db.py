"""``idp db``: the database schema and its housekeeping."""

from __future__ import annotations

import click

from ..config import instance_path_setting
from ..migrate import upgrade_database
from .common import JSON_OPTION, _, app_session, get_app, out


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration (creates the database on first run). On PostgreSQL, processes
    started at once take turns (an advisory lock): one migrates, the others find it done.
    A new instance folder is made only where IDP_INSTANCE_PATH names it."""
    applied = upgrade_database(get_app(creates_instance=instance_path_setting() is not None))
    if applied:
        click.echo(_("migrations applied: %(names)s", names=", ".join(applied)))
    click.echo(_("database is up to date"))


@db.command("purge")
@click.option(
    "--grace-days",
    default=1,
    show_default=True,
    help="Keep rows for this many days after they expired.",
)
@JSON_OPTION
def db_purge(grace_days: int, as_json: bool) -> None:
    """Delete expired sign-ins, codes, tokens and sessions (audit events are kept)."""
    from ..services.maintenance import purge_expired

    with app_session() as session:
        counts = purge_expired(session, grace_days=grace_days)
        session.commit()
        summary = ", ".join(f"{v} {k}" for k, v in counts.items())
        out(as_json, counts, _("deleted: %(summary)s", summary=summary))
