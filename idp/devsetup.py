"""First-run setup for development: the default realm, a demo admin and a demo client.

Their generated credentials are kept in the instance folder (like the generated secrets) so
that every `make run` can print them."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from flask import Flask

from .db import get_session
from .migrate import upgrade_database
from .services.clients import create_client, find_client
from .services.realms import DEFAULT_REALM, create_realm, find_realm
from .services.users import create_user, find_user_by_email

DEMO_ADMIN = "admin@example.com"
DEMO_CLIENT_ID = "demo-app"
DEMO_REDIRECT = "http://127.0.0.1:8000/callback"
DEMO_POST_LOGOUT = "http://127.0.0.1:8000/"


def ensure_dev_instance(app: Flask) -> str:
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
        if find_client(db, realm, DEMO_CLIENT_ID) is None:
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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(stored, fh, indent=2)
    issuer = f"{settings.base_url}/realms/{DEFAULT_REALM}"
    return "\n".join(
        [
            "",
            f"  Issuer:          {issuer}",
            f"  Discovery:       {issuer}/.well-known/openid-configuration",
            f"  Account page:    {issuer}/account/",
            f"  Admin console:   {issuer}/admin/",
            f"  Demo admin:      {DEMO_ADMIN} / {stored.get('admin_password', '(set earlier)')}",
            f"  Demo client:     client_id={DEMO_CLIENT_ID} "
            f"client_secret={stored.get('client_secret', '(shown at creation)')}",
            f"                   redirect_uri={DEMO_REDIRECT}",
            "  (development secrets live in instance/; never use them in production)",
            "",
        ]
    )
