"""The ``idp`` command: database, realms, users, clients, keys, and the servers.

Every command takes ``--realm`` (default ``main``) where it applies and ``--json`` for
machine-readable output.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from flask import Flask

from .migrate import alembic_config, upgrade_database

__all__ = ["alembic_config", "main", "register_cli", "upgrade_database"]

REALM_OPTION = click.option(
    "--realm", "realm_name", default="main", show_default=True, help="Realm to act on."
)
JSON_OPTION = click.option(
    "--as-json", "--json", "as_json", is_flag=True, help="Print machine-readable JSON."
)


def _app() -> Flask:
    from . import create_app
    from .config import ConfigError

    ctx = click.get_current_context()
    app = ctx.meta.get("idp.app")
    if app is None:
        try:
            app = create_app()
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from exc
        ctx.meta["idp.app"] = app
    return app


def _out(as_json: bool, data: Any, text: str) -> None:
    click.echo(json.dumps(data, indent=2, default=str) if as_json else text)


def _fail(message: str) -> None:
    raise click.ClickException(message)


class _Commands(click.Group):
    """Turns database errors into a clear message (most often: the schema is missing)."""

    def invoke(self, ctx: click.Context) -> Any:
        from sqlalchemy.exc import OperationalError, ProgrammingError

        try:
            return super().invoke(ctx)
        except (OperationalError, ProgrammingError) as exc:
            detail = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
            raise click.ClickException(
                f"database error: {detail}\n(is the schema up to date? run: idp db upgrade)"
            ) from exc


@click.group(cls=_Commands)
def main() -> None:
    """Operate the identity provider."""


# -- db -------------------------------------------------------------------------------------
@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration (creates the database on first run)."""
    upgrade_database(_app())
    click.echo("database is up to date")


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
    from .db import get_session
    from .services.maintenance import purge_expired

    with _app().app_context():
        db = get_session()
        counts = purge_expired(db, grace_days=grace_days)
        db.commit()
        _out(as_json, counts, ", ".join(f"{v} {k}" for k, v in counts.items()) + " deleted")


# -- realms ---------------------------------------------------------------------------------
@main.group()
def realm() -> None:
    """Realms (tenants)."""


@realm.command("add")
@click.argument("name")
@click.option("--display-name", default=None, help="Shown on pages and in authenticator apps.")
@JSON_OPTION
def realm_add(name: str, display_name: str | None, as_json: bool) -> None:
    from .db import get_session
    from .services.errors import ServiceError
    from .services.realms import create_realm

    with _app().app_context():
        db = get_session()
        try:
            row = create_realm(db, name, display_name)
        except ServiceError as exc:
            _fail(str(exc))
        db.commit()
        issuer = f"{_app().extensions['idp.settings'].base_url}/realms/{row.name}"
        _out(
            as_json,
            {"name": row.name, "display_name": row.display_name, "issuer": issuer},
            f"realm {row.name} created; issuer {issuer}",
        )


@realm.command("list")
@JSON_OPTION
def realm_list(as_json: bool) -> None:
    from .db import get_session
    from .services.realms import list_realms

    with _app().app_context():
        rows = list_realms(get_session())
        _out(
            as_json,
            [{"name": r.name, "display_name": r.display_name} for r in rows],
            "\n".join(f"{r.name}\t{r.display_name}" for r in rows),
        )


def _policy_data(row: Any) -> dict[str, Any]:
    from .services.realms import realm_policy

    data = realm_policy(row)
    since = data["require_2fa_since"]
    data["require_2fa_since"] = since.isoformat() if since else None
    return data


def _policy_text(data: dict[str, Any]) -> str:
    since = f" (since {data['require_2fa_since']})" if data["require_2fa_since"] else ""
    return "\n".join(
        (
            f"realm: {data['name']}",
            f"display name: {data['display_name']}",
            f"require 2fa: {data['require_2fa']}{since}",
            f"grace days: {data['grace_days']}",
            f"trust browser days: {data['trust_browser_days']}",
        )
    )


@realm.command("show")
@click.argument("name")
@JSON_OPTION
def realm_show(name: str, as_json: bool) -> None:
    """Print the realm's settings and sign-in policy."""
    with _app().app_context():
        data = _policy_data(_realm(name))
        _out(as_json, data, _policy_text(data))


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
@JSON_OPTION
def realm_set(
    name: str,
    display_name: str | None,
    require_2fa: str | None,
    grace_days: int | None,
    trust_browser_days: int | None,
    as_json: bool,
) -> None:
    """Change a realm's display name and sign-in policy; audited as the operator. Options
    left out keep their value."""
    from .db import get_session
    from .services.audit import OPERATOR
    from .services.errors import ServiceError
    from .services.realms import set_realm_display_name, set_realm_policy

    with _app().app_context():
        db = get_session()
        row = _realm(name)
        try:
            if display_name is not None:
                set_realm_display_name(db, row, display_name, actor=OPERATOR, client_address=None)
            set_realm_policy(
                db,
                row,
                require_2fa=require_2fa,
                grace_days=grace_days,
                trust_browser_days=trust_browser_days,
                actor=OPERATOR,
                client_address=None,
            )
        except ServiceError as exc:
            db.rollback()
            _fail(str(exc))
        db.commit()
        data = _policy_data(row)
        _out(as_json, data, _policy_text(data))


def _realm(name: str) -> Any:
    from .db import get_session
    from .services.realms import find_realm

    row = find_realm(get_session(), name)
    if row is None:
        _fail(f"no realm {name!r} (create it with: idp realm add {name})")
    return row


# -- users ----------------------------------------------------------------------------------
@main.group()
def user() -> None:
    """Users of a realm."""


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@user.command("add")
@click.option("--email", required=True)
@click.option("--name", "display_name", default="", help="Display name.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--admin", is_flag=True, help="Make the user an admin of the realm.")
@click.option(
    "--email-verified",
    is_flag=True,
    help="Vouch for the address: ID tokens say email_verified=true.",
)
@REALM_OPTION
@JSON_OPTION
def user_add(
    email: str,
    display_name: str,
    password_stdin: bool,
    admin: bool,
    email_verified: bool,
    realm_name: str,
    as_json: bool,
) -> None:
    from .db import get_session
    from .services.errors import ServiceError
    from .services.users import create_user

    password = _read_password(password_stdin)
    with _app().app_context():
        db = get_session()
        try:
            row = create_user(
                db,
                _realm(realm_name),
                email,
                password,
                display_name=display_name,
                is_admin=admin,
                email_verified=email_verified,
            )
        except ServiceError as exc:
            _fail(str(exc))
        db.commit()
        _out(
            as_json,
            {
                "email": row.email,
                "sub": row.sub,
                "admin": row.is_admin,
                "email_verified": row.email_verified,
                "realm": realm_name,
            },
            f"user {row.email} created in realm {realm_name}",
        )


@user.command("list")
@REALM_OPTION
@JSON_OPTION
def user_list(realm_name: str, as_json: bool) -> None:
    from .db import get_session
    from .services.factors import two_factor_statuses
    from .services.users import search_users

    with _app().app_context():
        db = get_session()
        rows, _ = search_users(db, _realm(realm_name), "", 1, 100000)
        statuses = two_factor_statuses(db, rows)
        data = []
        for r in rows:
            status = statuses[r.id]
            data.append(
                {
                    "email": r.email,
                    "name": r.display_name,
                    "admin": r.is_admin,
                    "disabled": r.disabled,
                    "email_verified": r.email_verified,
                    "two_factor": status.enabled,
                    "unused_backup_codes": status.unused_backup_codes,
                }
            )
        _out(
            as_json,
            data,
            "\n".join(
                f"{d['email']}\tadmin={d['admin']}\tdisabled={d['disabled']}\t"
                f"2fa={'enabled' if d['two_factor'] else 'off'}"
                for d in data
            ),
        )


def _user(realm_row: Any, email: str) -> Any:
    from .db import get_session
    from .services.users import find_user_by_email

    row = find_user_by_email(get_session(), realm_row, email)
    if row is None:
        _fail(f"no user {email} in realm {realm_row.name}")
    return row


@user.command("set-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@REALM_OPTION
def user_set_password(email: str, password_stdin: bool, realm_name: str) -> None:
    """Set a user's password (the console's password reset): ends the user's sessions,
    revokes their tokens; audited as the operator."""
    from .db import get_session
    from .services.accounts import reset_password
    from .services.audit import OPERATOR
    from .services.errors import ServiceError

    password = _read_password(password_stdin)
    with _app().app_context():
        db = get_session()
        try:
            reset_password(
                db,
                _user(_realm(realm_name), email),
                password,
                actor=OPERATOR,
                client_address=None,
            )
        except ServiceError as exc:
            _fail(str(exc))
        db.commit()
        click.echo(f"password of {email} changed; their sessions are ended, tokens revoked")


@user.command("email-verified")
@click.argument("email")
@click.option("--unverified", is_flag=True, help="Withdraw it: ID tokens say email_verified=false.")
@REALM_OPTION
@JSON_OPTION
def user_email_verified(email: str, unverified: bool, realm_name: str, as_json: bool) -> None:
    """Vouch for a user's email address (ID tokens then say ``email_verified: true``, which
    relying parties such as oauth2-proxy require); audited as the operator."""
    from .db import get_session
    from .services.accounts import set_email_verified
    from .services.audit import OPERATOR

    with _app().app_context():
        db = get_session()
        row = _user(_realm(realm_name), email)
        set_email_verified(db, row, not unverified, actor=OPERATOR, client_address=None)
        db.commit()
        _out(
            as_json,
            {"email": row.email, "email_verified": row.email_verified, "realm": realm_name},
            f"email of {row.email} is {'verified' if row.email_verified else 'not verified'}",
        )


@user.command("reset-2fa")
@click.argument("email")
@REALM_OPTION
@JSON_OPTION
def user_reset_2fa(email: str, realm_name: str, as_json: bool) -> None:
    """Disable two-factor authentication for a user (SPEC A3): removes the key and every
    backup code, ends the user's sessions and revokes their tokens; audited as the operator."""
    from .db import get_session
    from .services.audit import OPERATOR
    from .services.factors import reset_second_factors

    with _app().app_context():
        db = get_session()
        row = _user(_realm(realm_name), email)
        had = reset_second_factors(db, row, actor=OPERATOR, client_address=None)
        db.commit()
        _out(
            as_json,
            {"email": row.email, "realm": realm_name, "was_enabled": had},
            f"two-factor authentication disabled for {row.email}"
            + ("" if had else " (it was not enabled)"),
        )


# -- clients --------------------------------------------------------------------------------
@main.group()
def client() -> None:
    """Relying-party clients of a realm."""


@client.command("add")
@click.option("--name", required=True)
@click.option("--redirect-uri", "redirect_uris", multiple=True, help="Repeatable.")
@click.option("--post-logout-redirect-uri", "post_logout", multiple=True, help="Repeatable.")
@click.option("--public", is_flag=True, help="A public client (no secret; PKCE S256 required).")
@click.option(
    "--grant-type",
    "grant_types",
    multiple=True,
    help="authorization_code, refresh_token, client_credentials (repeatable).",
)
@click.option("--scope", "scopes", multiple=True, help="Allowed scope (repeatable).")
@click.option("--client-id", default=None, help="Choose the client_id (default: random).")
@click.option(
    "--require-2fa",
    "require_2fa",
    is_flag=True,
    help="Every sign-in for this client needs a second factor.",
)
@REALM_OPTION
@JSON_OPTION
def client_add(
    name: str,
    redirect_uris: tuple[str, ...],
    post_logout: tuple[str, ...],
    public: bool,
    grant_types: tuple[str, ...],
    scopes: tuple[str, ...],
    client_id: str | None,
    require_2fa: bool,
    realm_name: str,
    as_json: bool,
) -> None:
    from .db import get_session
    from .services.clients import create_client
    from .services.errors import ServiceError

    with _app().app_context():
        db = get_session()
        try:
            new = create_client(
                db,
                _realm(realm_name),
                name,
                list(redirect_uris),
                public=public,
                post_logout_redirect_uris=list(post_logout),
                grant_types=list(grant_types) or None,
                scopes=list(scopes) or None,
                client_id=client_id,
                require_2fa=require_2fa,
            )
        except ServiceError as exc:
            _fail(str(exc))
        db.commit()
        data = {
            "client_id": new.client.client_id,
            "client_secret": new.client_secret,
            "name": name,
            "public": public,
            "require_2fa": new.client.require_2fa,
            "realm": realm_name,
        }
        text = f"client_id: {new.client.client_id}"
        if new.client_secret:
            text += f"\nclient_secret: {new.client_secret}\n(the secret is shown only now)"
        _out(as_json, data, text)


@client.command("list")
@REALM_OPTION
@JSON_OPTION
def client_list(realm_name: str, as_json: bool) -> None:
    from .db import get_session
    from .services.clients import list_clients

    with _app().app_context():
        rows = list_clients(get_session(), _realm(realm_name))
        data = [
            {
                "client_id": c.client_id,
                "name": c.name,
                "public": c.public,
                "redirect_uris": c.redirect_uris,
                "grant_types": c.grant_types,
                "require_2fa": c.require_2fa,
            }
            for c in rows
        ]
        _out(
            as_json,
            data,
            "\n".join(
                f"{c['client_id']}\t{c['name']}\trequire_2fa={'yes' if c['require_2fa'] else 'no'}"
                for c in data
            ),
        )


def _client_data(row: Any, realm_name: str) -> dict[str, Any]:
    return {
        "client_id": row.client_id,
        "name": row.name,
        "public": row.public,
        "require_2fa": row.require_2fa,
        "realm": realm_name,
    }


@client.command("set")
@click.argument("client_id")
@click.option(
    "--require-2fa/--no-require-2fa",
    "require_2fa",
    default=None,
    help="Whether every sign-in for this client needs a second factor.",
)
@REALM_OPTION
@JSON_OPTION
def client_set(client_id: str, require_2fa: bool | None, realm_name: str, as_json: bool) -> None:
    """Change a client's sign-in policy; audited as the operator."""
    from .db import get_session
    from .services.audit import OPERATOR
    from .services.clients import find_client, set_client_require_2fa

    if require_2fa is None:
        _fail("nothing to change: give --require-2fa or --no-require-2fa")
    with _app().app_context():
        db = get_session()
        realm_row = _realm(realm_name)
        row = find_client(db, realm_row, client_id)
        if row is None:
            _fail(f"no client {client_id} in realm {realm_name}")
        set_client_require_2fa(db, row, bool(require_2fa), actor=OPERATOR, client_address=None)
        db.commit()
        data = _client_data(row, realm_name)
        _out(
            as_json,
            data,
            f"client {row.client_id}: require_2fa={'yes' if row.require_2fa else 'no'}",
        )


@client.command("remove")
@click.argument("client_id")
@REALM_OPTION
def client_remove(client_id: str, realm_name: str) -> None:
    from .db import get_session
    from .services.clients import remove_client
    from .services.errors import ServiceError

    with _app().app_context():
        db = get_session()
        try:
            remove_client(db, _realm(realm_name), client_id)
        except ServiceError as exc:
            _fail(str(exc))
        db.commit()
        click.echo(f"client {client_id} removed")


# -- keys -----------------------------------------------------------------------------------
@main.group()
def keys() -> None:
    """Token-signing keys and the data-encryption key."""


@keys.command("rotate")
@click.option("--alg", type=click.Choice(["RS256", "ES256"]), default=None)
@REALM_OPTION
@JSON_OPTION
def keys_rotate(alg: str | None, realm_name: str, as_json: bool) -> None:
    """Add a new signing key; the old one stays published until `idp keys retire`."""
    from .db import get_session
    from .services.keys import rotate_signing_key

    with _app().app_context():
        db = get_session()
        row = rotate_signing_key(db, _realm(realm_name), alg)
        db.commit()
        _out(as_json, {"kid": row.kid, "alg": row.alg}, f"new signing key {row.kid} ({row.alg})")


@keys.command("retire")
@REALM_OPTION
def keys_retire(realm_name: str) -> None:
    """Stop publishing the keys replaced by earlier rotations."""
    from .db import get_session
    from .services.keys import retire_signing_keys

    with _app().app_context():
        db = get_session()
        count = retire_signing_keys(db, _realm(realm_name))
        db.commit()
        click.echo(f"{count} key(s) retired")


@keys.command("list")
@REALM_OPTION
@JSON_OPTION
def keys_list(realm_name: str, as_json: bool) -> None:
    from .db import get_session
    from .services.keys import list_signing_keys

    with _app().app_context():
        rows = list_signing_keys(get_session(), _realm(realm_name))
        data = [{"kid": r.kid, "alg": r.alg, "status": r.status} for r in rows]
        _out(as_json, data, "\n".join(f"{d['kid']}\t{d['alg']}\t{d['status']}" for d in data))


@keys.command("rotate-data-key")
def keys_rotate_data_key() -> None:
    """Re-encrypt every TOTP key and private signing key with a new data key.

    With generated keys (instance/secrets.json) the command makes the new key itself and drops
    the old one at the end; running servers pick the change up on their own. With
    IDP_DATA_KEYS from the environment, put the new key first there (``new,old``), restart,
    run this command, then remove the old key."""
    from cryptography.fernet import Fernet
    from sqlalchemy import select

    from .config import save_data_keys
    from .db import get_session
    from .models import Authenticator
    from .services.context import cipher, reset_cipher
    from .services.keys import reencrypt_private_keys

    app = _app()
    settings = app.extensions["idp.settings"]
    generated = "data_keys" in settings.generated
    with app.app_context():
        if generated:
            # Publish [new, old] first: running servers (which watch the file) then decrypt
            # with either and encrypt with the new key before anything is re-encrypted.
            save_data_keys(settings, [Fernet.generate_key().decode(), *settings.data_keys])
        reset_cipher()
        db = get_session()
        count = reencrypt_private_keys(db)
        for row in db.scalars(
            select(Authenticator).where(Authenticator.secret_encrypted.isnot(None))
        ):
            row.secret_encrypted = cipher().rotate(row.secret_encrypted or "")
            count += 1
        db.commit()
        if generated:
            save_data_keys(settings, settings.data_keys[:1])
            reset_cipher()
        click.echo(f"re-encrypted {count} value(s) with the first data key")
        if not generated and len(settings.data_keys) > 1:
            click.echo("now remove the old key(s) from IDP_DATA_KEYS and restart")


# -- secrets --------------------------------------------------------------------------------
@main.command("secrets")
@JSON_OPTION
def secrets_command(as_json: bool) -> None:
    """Print new values for the secrets production needs (IDP_SECRET_KEY, IDP_DATA_KEYS,
    IDP_CODE_PEPPER) as shell assignments. Store them in your secret manager: losing
    IDP_DATA_KEYS loses every TOTP key and signing key; changing IDP_CODE_PEPPER voids every
    backup code."""
    from cryptography.fernet import Fernet

    from .config import new_secret

    values = {
        "IDP_SECRET_KEY": new_secret(),
        "IDP_DATA_KEYS": Fernet.generate_key().decode(),
        "IDP_CODE_PEPPER": new_secret(),
    }
    _out(as_json, values, "\n".join(f"{name}={value}" for name, value in values.items()))


# -- servers --------------------------------------------------------------------------------
@main.command("serve")
@click.option("--threads", default=8, show_default=True)
def serve(threads: int) -> None:
    """Serve with waitress (production)."""
    import waitress

    app = _app()
    settings = app.extensions["idp.settings"]
    waitress.serve(
        app,
        host=settings.host,
        port=settings.port,
        threads=threads,
        # waitress drops X-Forwarded-* headers by default; with IDP_PROXY_COUNT the app's
        # ProxyFix reads them (client address for the audit log and throttles, https).
        clear_untrusted_proxy_headers=not settings.proxy_count,
    )


@main.command("dev")
def dev() -> None:
    """Set up a development instance and serve it: migrate the SQLite database, create the
    default realm, a demo admin and a demo client if absent, print them, and serve."""
    from .devsetup import ensure_dev_instance

    app = _app()
    info = ensure_dev_instance(app)
    settings = app.extensions["idp.settings"]
    click.echo(info)
    app.run(host=settings.host, port=settings.port, threaded=True, use_reloader=False)


def register_cli(app: Flask) -> None:
    """Nothing to add to `flask` itself: the `idp` command is the interface."""
