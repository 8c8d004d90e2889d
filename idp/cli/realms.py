"""``idp realm``: realms (tenants), their settings, branding and sign-in policy."""

from __future__ import annotations

import mimetypes
import os
from pathlib import Path
from typing import Any

import click

from .common import JSON_OPTION, app_session, fail, find_realm_or_fail, get_app, out


@click.group()
def realm() -> None:
    """Realms (tenants)."""


@realm.command("add")
@click.argument("name")
@click.option("--display-name", default=None, help="Shown on pages and in authenticator apps.")
@JSON_OPTION
def realm_add(name: str, display_name: str | None, as_json: bool) -> None:
    from ..services.realms import create_realm

    with app_session() as db:
        row = create_realm(db, name, display_name)
        db.commit()
        issuer = f"{get_app().extensions['idp.settings'].base_url}/realms/{row.name}"
        out(
            as_json,
            {"name": row.name, "display_name": row.display_name, "issuer": issuer},
            f"realm {row.name} created; issuer {issuer}",
        )


@realm.command("list")
@JSON_OPTION
def realm_list(as_json: bool) -> None:
    from ..services.realms import list_realms

    with app_session() as db:
        rows = list_realms(db)
        out(
            as_json,
            [{"name": r.name, "display_name": r.display_name} for r in rows],
            "\n".join(f"{r.name}\t{r.display_name}" for r in rows),
        )


def _policy_data(row: Any) -> dict[str, Any]:
    from ..services.realms import realm_branding, realm_policy

    data = {**realm_policy(row), **realm_branding(row)}
    since = data["require_2fa_since"]
    data["require_2fa_since"] = since.isoformat() if since else None
    return data


def _policy_text(data: dict[str, Any]) -> str:
    since = f" (since {data['require_2fa_since']})" if data["require_2fa_since"] else ""
    return "\n".join(
        (
            f"realm: {data['name']}",
            f"display name: {data['display_name']}",
            f"default locale: {data['default_locale']}",
            f"accent color: {data['accent_color'] or '(default)'}",
            f"logo: {data['logo_content_type'] or '(none)'}",
            f"require 2fa: {data['require_2fa']}{since}",
            f"grace days: {data['grace_days']}",
            f"trust browser days: {data['trust_browser_days']}",
            f"passkey sign-in: {'on' if data['passkey_sign_in'] else 'off'}",
        )
    )


def cli_locale() -> str:
    """The operator's language for messages, from the POSIX locale variables
    (``LANG=ja_JP.UTF-8`` -> ``ja``); English otherwise."""
    from ..i18n import supported

    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        if value := os.environ.get(name):
            return supported(value.split(".", 1)[0]) or "en"
    return "en"


def _read_logo(path: str) -> bytes:
    """The logo file's bytes, at most one more than the limit (the service refuses more)."""
    from ..services.brand_checks import LOGO_MAX_BYTES

    try:
        with Path(path).open("rb") as f:
            return f.read(LOGO_MAX_BYTES + 1)
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or exc}")


@realm.command("show")
@click.argument("name")
@JSON_OPTION
def realm_show(name: str, as_json: bool) -> None:
    """Print the realm's settings and sign-in policy."""
    with app_session() as db:
        data = _policy_data(find_realm_or_fail(db, name))
        out(as_json, data, _policy_text(data))


@realm.command("set")
@click.argument("name")
@click.option("--display-name", default=None, help="Shown on pages and in authenticator apps.")
@click.option(
    "--require-2fa",
    "require_2fa",
    type=click.Choice(["none", "admins", "all"]),
    default=None,
    help="Who must have two-factor authentication (users without it enrol at sign-in).",
)
@click.option(
    "--grace-days",
    type=int,
    default=None,
    help="Days a user may postpone enrolling, from the policy taking effect or the "
    "account's creation, whichever is later (0-365; 0: no postponing).",
)
@click.option(
    "--trust-browser-days",
    type=int,
    default=None,
    help='Days "trust this browser" skips the code (0-365; 0: the option is off).',
)
@click.option(
    "--passkey-sign-in/--no-passkey-sign-in",
    "passkey_sign_in",
    default=None,
    help='Offer "Sign in with a passkey" on the sign-in page (on by default); off: users '
    "sign in with the password first, and security keys remain a second factor.",
)
@click.option(
    "--default-locale",
    type=click.Choice(["en", "ja"]),
    default=None,
    help="Language of the pages when neither the application, the language switch nor the "
    "browser asks for one.",
)
@click.option(
    "--accent-color",
    default=None,
    metavar="#RRGGBB",
    help="Colour of links, buttons and focus rings; it needs a contrast of at least 4.5:1 "
    "against white (WCAG AA). An empty value restores the built-in blue.",
)
@click.option(
    "--logo",
    "logo_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="A PNG, JPEG or WebP image of at most 256 KiB shown at the top of every page "
    "(SVG is refused: it can carry scripts).",
)
@click.option("--remove-logo", is_flag=True, help="Remove the realm's logo.")
@JSON_OPTION
def realm_set(
    name: str,
    display_name: str | None,
    require_2fa: str | None,
    grace_days: int | None,
    trust_browser_days: int | None,
    passkey_sign_in: bool | None,
    default_locale: str | None,
    accent_color: str | None,
    logo_path: str | None,
    remove_logo: bool,
    as_json: bool,
) -> None:
    """Change a realm's branding and sign-in policy; audited as the operator. Options left
    out keep their value. A refused value changes nothing and exits with status 1."""
    from flask_babel import force_locale

    from ..branding_messages import branding_refusal
    from ..services.audit import OPERATOR
    from ..services.errors import InvalidInput
    from ..services.realms import set_realm_branding, set_realm_policy

    if logo_path is not None and remove_logo:
        fail("use --logo or --remove-logo, not both")
    logo = _read_logo(logo_path) if logo_path is not None else None
    with app_session() as db:
        row = find_realm_or_fail(db, name)
        try:
            set_realm_branding(
                db,
                row,
                display_name=display_name,
                default_locale=default_locale,
                accent_color=accent_color,
                logo=logo,
                # The file name's type must agree with the bytes (a .jpg that is a PNG is
                # refused, as in the console).
                logo_declared_type=mimetypes.guess_type(logo_path)[0] if logo_path else None,
                remove_logo=remove_logo,
                actor=OPERATOR,
                client_address=None,
            )
        except InvalidInput as exc:
            db.rollback()
            with force_locale(cli_locale()):
                fail(branding_refusal(exc))
        set_realm_policy(
            db,
            row,
            require_2fa=require_2fa,
            grace_days=grace_days,
            trust_browser_days=trust_browser_days,
            passkey_sign_in=passkey_sign_in,
            actor=OPERATOR,
            client_address=None,
        )
        db.commit()
        data = _policy_data(row)
        out(as_json, data, _policy_text(data))
