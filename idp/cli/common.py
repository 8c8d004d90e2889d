"""What every ``idp`` command shares: the app, output, failures, the common options, and
``app_session``, the one context a command does its database work in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import click
from flask import Flask

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

REALM_OPTION = click.option(
    "--realm", "realm_name", default="main", show_default=True, help="Realm to act on."
)
JSON_OPTION = click.option(
    "--as-json", "--json", "as_json", is_flag=True, help="Print machine-readable JSON."
)


def get_app() -> Flask:
    """The app of this command invocation, created on first use (a configuration error is
    the command's error message)."""
    from .. import create_app
    from ..config import ConfigError

    ctx = click.get_current_context()
    app = ctx.meta.get("idp.app")
    if app is None:
        try:
            app = create_app()
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from exc
        ctx.meta["idp.app"] = app
    return app


def _(message: str, **values: Any) -> str:
    """``message`` in the language of the shell's locale (``LANG=ja_JP.UTF-8``: Japanese;
    SPEC section 8), with ``%(name)s`` values filled in."""
    from flask_babel import gettext

    try:
        app = get_app()
    except click.ClickException:
        return message % values if values else message
    with app.app_context():
        return gettext(message, **values)


def out(as_json: bool, data: Any, text: str) -> None:
    """Print ``data`` as JSON with ``--json``, else ``text``."""
    click.echo(json.dumps(data, indent=2, default=str) if as_json else text)


def fail(message: str) -> NoReturn:
    """End the command with ``message`` on standard error and exit status 1."""
    raise click.ClickException(message)


@contextmanager
def app_session() -> Iterator[Session]:
    """The app context and its database session, for a command's work: a service's refusal
    (``ServiceError``) is rolled back and becomes the command's error message. The command
    commits; whatever it leaves uncommitted is rolled back when the context ends. Database
    errors are reported by ``CommandGroup`` (they can come from outside a session too)."""
    from ..db import get_session
    from ..services.errors import ServiceError

    with get_app().app_context():
        db = get_session()
        try:
            yield db
        except ServiceError as exc:
            db.rollback()
            fail(str(exc))


def find_realm_or_fail(db: Session, name: str) -> Any:
    """The realm called ``name``, or the command fails saying how to create it."""
    from ..services.realms import find_realm

    row = find_realm(db, name)
    if row is None:
        fail(_("no realm %(name)s (create it with: idp realm add %(name)s)", name=name))
    return row


class CommandGroup(click.Group):
    """Turns database errors into a clear message (most often: the schema is missing)."""

    def invoke(self, ctx: click.Context) -> Any:
        from sqlalchemy.exc import OperationalError, ProgrammingError

        try:
            return super().invoke(ctx)
        except (OperationalError, ProgrammingError) as exc:
            detail = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
            raise click.ClickException(
                _("database error: %(detail)s", detail=detail)
                + "\n"
                + _("(is the schema up to date? run: idp db upgrade)")
            ) from exc
