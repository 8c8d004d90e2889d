"""What every ``idp`` command shares: the app, output, failures, the common options, and
``app_session``, the one context a command does its database work in."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
from flask import Flask

if TYPE_CHECKING:
    from babel.support import NullTranslations
    from sqlalchemy.orm import Session

REALM_OPTION = click.option(
    "--realm", "realm_name", default="main", show_default=True, help="Realm to act on."
)
JSON_OPTION = click.option(
    "--as-json", "--json", "as_json", is_flag=True, help="Print machine-readable JSON."
)


def get_app(creates_instance: bool = False) -> Flask:
    """The app of this command invocation, created on first use (a configuration error is
    the command's error message). Unless ``creates_instance``, a missing instance folder is
    refused (:func:`refuse_missing_instance`) before anything is written."""
    from .. import create_app
    from ..config import ConfigError

    ctx = click.get_current_context()
    app = ctx.meta.get("idp.app")
    if app is None:
        if not creates_instance:
            refuse_missing_instance()
        try:
            app = create_app()
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from exc
        ctx.meta["idp.app"] = app
    return app


def refuse_missing_instance() -> None:
    """End the command when the instance folder it needs is not there (``idp`` run outside
    the checkout, or a mistyped IDP_INSTANCE_PATH): say where it looked and how to point at
    the installation or make a new one, having created nothing."""
    from ..config import instance_path_setting, missing_instance

    path = missing_instance()
    if path is None:
        return
    if path.is_dir():
        where = _(
            "no installation in %(path)s: the folder has no idp.sqlite3 or no secrets.json",
            path=path,
        )
        if instance_path_setting() is None:
            where += " " + _("(IDP_INSTANCE_PATH is not set, so ./instance)")
    elif instance_path_setting() is not None:
        where = _("no instance folder at %(path)s (IDP_INSTANCE_PATH)", path=path)
    else:
        where = _(
            "no instance folder at %(path)s (IDP_INSTANCE_PATH is not set, so ./instance "
            "in the current directory)",
            path=path,
        )
    fail(
        where
        + "\n"
        + _(
            "Set IDP_INSTANCE_PATH to your installation's instance folder, or run idp in the "
            "directory that holds it."
        )
        + "\n"
        + _(
            "To make a new installation there: IDP_INSTANCE_PATH=%(path)s idp db upgrade",
            path=shlex.quote(str(path)),
        )
    )


@cache
def _catalog(locale: str) -> NullTranslations:
    from babel.support import Translations

    # NullTranslations (the messages as written) when the catalog is missing.
    return Translations.load(Path(__file__).resolve().parent.parent / "translations", [locale])


def _(message: str, **values: Any) -> str:
    """``message`` in the language of the shell's locale (``LANG=ja_JP.UTF-8``: Japanese;
    SPEC section 8), with ``%(name)s`` values filled in. Needs no app (so it can explain why
    there is none)."""
    from ..i18n import cli_locale

    text = _catalog(cli_locale()).gettext(message)
    return text % values if values else text


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
