"""First-run setup for development: the default realm, a demo admin and a demo client.

Their generated credentials are kept in the instance folder (like the generated secrets) so
that every `make run` can print them, together with the exact command that starts the example
relying party (clients/flask_rp.py) against this provider.

``python -m idp.devsetup [--client-secret-file PATH]`` does the same setup without serving
(docker/compose.yaml runs it once, and hands the demo client's secret to the example relying
party in that file)."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import sys
from pathlib import Path

from flask import Flask

from . import ROOT
from .db import get_session
from .migrate import upgrade_database
from .services.clients import create_client, find_client, remove_client
from .services.realms import DEFAULT_REALM, create_realm, find_realm
from .services.users import create_user, find_user_by_email

DEMO_ADMIN = "admin@example.com"
DEMO_CLIENT_ID = "demo-app"
#: Where the example relying party listens by default (clients/flask_rp.py).
DEMO_RP_URL = "http://127.0.0.1:8000"
DEMO_REDIRECT = f"{DEMO_RP_URL}/callback"
DEMO_POST_LOGOUT = f"{DEMO_RP_URL}/"
EXAMPLE_RP = ROOT / "clients" / "flask_rp.py"
#: The example app's own settings of where it listens; ``idp dev`` reads them too, so that the
#: same ``RP_PORT=8001`` given to ``make run`` and to the example app fits both.
EXAMPLE_RP_SETTINGS = ("RP_HOST", "RP_PORT", "RP_BASE_URL")
#: The port the banner offers as an example of another one.
OTHER_PORT = 8001


def example_rp_settings() -> dict[str, str]:
    """The example app's place settings given in this environment (none: its defaults)."""
    return {
        name: os.environ[name].strip()
        for name in EXAMPLE_RP_SETTINGS
        if os.environ.get(name, "").strip()
    }


def example_rp_url(given: dict[str, str] | None = None) -> str:
    """The example app's base URL as clients/flask_rp.py computes it from its settings."""
    given = example_rp_settings() if given is None else given
    if "RP_BASE_URL" in given:
        return given["RP_BASE_URL"].rstrip("/")
    host = given.get("RP_HOST", "127.0.0.1")
    return f"http://{host}:{given.get('RP_PORT', '8000')}"


def ensure_dev_instance(app: Flask) -> str:
    """Migrate, create what is missing, and return the banner that ``idp dev`` prints."""
    return banner(app, ensure_demo_data(app))


def banner(app: Flask, stored: dict[str, str]) -> str:
    """What ``idp dev`` prints: the URLs, the demo credentials and the example app's command."""
    settings = app.extensions["idp.settings"]
    issuer = f"{settings.base_url}/realms/{DEFAULT_REALM}"
    lines = [
        "",
        f"  Issuer:          {issuer}",
        f"  Discovery:       {issuer}/.well-known/openid-configuration",
        f"  Account page:    {issuer}/account/",
        f"  Admin console:   {issuer}/admin/",
        f"  Demo admin:      {DEMO_ADMIN} / {stored.get('admin_password', '(set earlier)')}",
        f"  Demo client:     client_id={DEMO_CLIENT_ID} client_secret={stored['client_secret']}",
    ]
    lines += [f"                   redirect_uri={uri}" for uri in demo_redirect_uris()]
    command = example_rp_command(issuer, stored["client_secret"])
    if command:
        other = f"http://127.0.0.1:{OTHER_PORT}"
        lines += [
            f"  Example app:     {example_rp_url()}/ once started in another shell with",
            f"    {command}",
            f"  Another port:    start this with it too (RP_PORT={OTHER_PORT} make run): "
            f"{DEMO_CLIENT_ID} then",
            f"                   also accepts {other}/callback, and the command above sets "
            f"RP_PORT={OTHER_PORT};",
            "                   or register a client of its own (then give the example app "
            "its id and secret):",
            f"    {example_client_add_command(OTHER_PORT)}",
        ]
    lines += [
        f"  (development secrets live in {_shown_path(Path(settings.instance_path))}/; "
        "never use them in production)",
        "",
    ]
    return "\n".join(lines)


def demo_redirect_uris() -> list[str]:
    """The demo client's redirect URIs: the example app's default place, and the one its
    settings in this environment name (``RP_PORT=8001 make run``)."""
    return list(dict.fromkeys([DEMO_REDIRECT, f"{example_rp_url()}/callback"]))


def demo_backchannel_logout_uri() -> str:
    """Where the example app takes logout tokens (single sign-out, README)."""
    return f"{example_rp_url()}/backchannel-logout"


def demo_post_logout_uris() -> list[str]:
    return list(dict.fromkeys([DEMO_POST_LOGOUT, f"{example_rp_url()}/"]))


def example_client_add_command(port: int) -> str:
    """The exact ``idp client add`` for the example app on ``port`` (a client of its own),
    on the instance this server runs on, as it was given (another shell may not have it)."""
    url = f"http://127.0.0.1:{port}"
    env = [
        f"{name}={shlex.quote(os.environ[name])}"
        for name in ("IDP_INSTANCE_PATH", "IDP_DATABASE_URL")
        if os.environ.get(name)
    ]
    words = [
        _shown_path(Path(sys.executable).with_name("idp")),
        "client",
        "add",
        "--name",
        f"Example app on port {port}",
        "--redirect-uri",
        f"{url}/callback",
        "--post-logout-redirect-uri",
        f"{url}/",
    ]
    return " ".join([*env, *(shlex.quote(word) for word in words)])


def ensure_demo_data(app: Flask) -> dict[str, str]:
    """Migrate the database and create the default realm, the demo admin and the demo client
    where missing. Returns the stored credentials (``admin_password``, ``client_secret``).
    A demo client whose secret was lost (the credentials file deleted) is made anew."""
    upgrade_database(app)
    settings = app.extensions["idp.settings"]
    path = Path(settings.instance_path) / "demo-credentials.json"
    stored = json.loads(path.read_text()) if path.exists() else {}
    with app.app_context():
        db = get_session()
        realm = find_realm(db, DEFAULT_REALM) or create_realm(db, DEFAULT_REALM, "Main")
        if find_user_by_email(db, realm, DEMO_ADMIN) is None:
            stored["admin_password"] = secrets.token_urlsafe(12)
            create_user(
                db,
                realm,
                DEMO_ADMIN,
                stored["admin_password"],
                display_name="Demo Admin",
                is_admin=True,
                email_verified=True,
            )
        client = find_client(db, realm, DEMO_CLIENT_ID)
        if client is not None and not stored.get("client_secret"):
            remove_client(db, realm, DEMO_CLIENT_ID)
            db.flush()
            client = None
        if client is None:
            new = create_client(
                db,
                realm,
                "Demo app",
                demo_redirect_uris(),
                post_logout_redirect_uris=demo_post_logout_uris(),
                client_id=DEMO_CLIENT_ID,
                backchannel_logout_uri=demo_backchannel_logout_uri(),
            )
            stored["client_secret"] = new.client_secret
        else:  # the example app's place given this time is added to those of earlier runs
            client.redirect_uris = _merged(client.redirect_uris, demo_redirect_uris())
            client.post_logout_redirect_uris = _merged(
                client.post_logout_redirect_uris, demo_post_logout_uris()
            )
            # One back-channel URI: the example app's place of this run.
            client.backchannel_logout_uri = demo_backchannel_logout_uri()
        db.commit()
    _write_private(path, json.dumps(stored, indent=2))
    return stored


def _merged(old: list[str] | None, wanted: list[str]) -> list[str]:
    return list(dict.fromkeys([*(old or []), *wanted]))


def example_rp_command(issuer: str, client_secret: str) -> str | None:
    """The shell command that starts clients/flask_rp.py against ``issuer`` as the demo
    client, with this Python, where the example app's settings of this environment put it;
    None where the example is not at hand (an installed wheel)."""
    if not EXAMPLE_RP.is_file():
        return None
    env = {"RP_ISSUER": issuer, "RP_CLIENT_ID": DEMO_CLIENT_ID, "RP_CLIENT_SECRET": client_secret}
    env |= example_rp_settings()
    words = [f"{name}={shlex.quote(value)}" for name, value in env.items()]
    words += [shlex.quote(_shown_path(Path(sys.executable))), shlex.quote(_shown_path(EXAMPLE_RP))]
    return " ".join(words)


def _shown_path(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it (``.venv/bin/python``
    in a checkout), else absolute. The virtualenv's python is not resolved: its symlink is
    what finds the virtualenv's packages."""
    absolute = Path(os.path.abspath(path))
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def main(argv: list[str] | None = None) -> None:
    """``python -m idp.devsetup``: the setup of ``idp dev`` without the server."""
    from . import create_app
    from .config import ConfigError

    parser = argparse.ArgumentParser(prog="python -m idp.devsetup", description=main.__doc__)
    parser.add_argument(
        "--client-secret-file",
        type=Path,
        help="also write the demo client's secret to this file (readable by this user only)",
    )
    args = parser.parse_args(argv)
    try:
        app = create_app()
    except ConfigError as exc:
        sys.exit(str(exc))
    stored = ensure_demo_data(app)
    print(banner(app, stored))
    if args.client_secret_file:
        _write_private(args.client_secret_file, stored["client_secret"] + "\n")


if __name__ == "__main__":
    main()
