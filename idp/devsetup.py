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
        f"                   redirect_uri={DEMO_REDIRECT}",
    ]
    command = example_rp_command(issuer, stored["client_secret"])
    if command:
        lines += [
            f"  Example app:     {DEMO_RP_URL}/ once started in another shell with",
            f"    {command}",
        ]
    lines += ["  (development secrets live in instance/; never use them in production)", ""]
    return "\n".join(lines)


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
                [DEMO_REDIRECT],
                post_logout_redirect_uris=[DEMO_POST_LOGOUT],
                client_id=DEMO_CLIENT_ID,
            )
            stored["client_secret"] = new.client_secret
        db.commit()
    _write_private(path, json.dumps(stored, indent=2))
    return stored


def example_rp_command(issuer: str, client_secret: str) -> str | None:
    """The shell command that starts clients/flask_rp.py against ``issuer`` as the demo
    client, with this Python; None where the example is not at hand (an installed wheel)."""
    if not EXAMPLE_RP.is_file():
        return None
    env = {"RP_ISSUER": issuer, "RP_CLIENT_ID": DEMO_CLIENT_ID, "RP_CLIENT_SECRET": client_secret}
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
