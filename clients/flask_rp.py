"""An example relying party: a small Flask app that signs users in through the provider with
Authlib's Flask client and shows what the ID token says (amr, acr).

Run the provider with `make run` (it creates the client `demo-app` and prints its secret),
then in another shell:

    IDP_CLIENT_SECRET=<printed secret> .venv/bin/python clients/flask_rp.py

and open http://127.0.0.1:8000/.
"""

from __future__ import annotations

import os
import secrets

from authlib.integrations.flask_client import OAuth
from flask import Flask, redirect, session, url_for
from markupsafe import escape

ISSUER = os.environ.get("IDP_ISSUER", "http://127.0.0.1:5000/realms/main")

app = Flask(__name__)
app.secret_key = secrets.token_hex(16)
oauth = OAuth(app)
oauth.register(
    "idp",
    client_id=os.environ.get("IDP_CLIENT_ID", "demo-app"),
    client_secret=os.environ["IDP_CLIENT_SECRET"],
    server_metadata_url=f"{ISSUER}/.well-known/openid-configuration",
    client_kwargs={"scope": "openid profile email", "code_challenge_method": "S256"},
)


@app.get("/")
def home() -> str:
    user = session.get("user")
    if not user:
        return '<p><a href="/login">Sign in</a></p>'
    return (
        f"<p>Signed in as {escape(user['email'])}</p>"
        f"<p>amr={escape(user['amr'])} acr={escape(user['acr'])}</p>"
        '<p><a href="/logout">Sign out</a></p>'
    )


@app.get("/login")
def login():  # noqa: ANN201 - a Flask view
    return oauth.idp.authorize_redirect(url_for("callback", _external=True))


@app.get("/callback")
def callback():  # noqa: ANN201
    token = oauth.idp.authorize_access_token()  # verifies the ID token against the JWKS
    claims = token["userinfo"]
    session["user"] = {
        "email": claims.get("email"),
        "amr": claims.get("amr"),
        "acr": claims.get("acr"),
    }
    session["id_token"] = token["id_token"]
    return redirect("/")


@app.get("/logout")
def logout():  # noqa: ANN201
    id_token = session.pop("id_token", "")
    session.clear()
    meta = oauth.idp.load_server_metadata()
    return redirect(
        f"{meta['end_session_endpoint']}?id_token_hint={id_token}"
        f"&post_logout_redirect_uri={url_for('home', _external=True)}"
    )


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=8000)
