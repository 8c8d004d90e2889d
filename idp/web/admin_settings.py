"""The console's policy pages (SPEC P1, P2, P3, P8): the realm's sign-in policy (who must have
two-factor authentication, the grace period, "trust this browser") and the realm's clients with
their "requires two-factor authentication" switch.

Admins only, like the rest of the console; a change needs a recent sign-in with every factor
the admin has, as the account's sensitive actions do.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    url_for,
)

from ..db import get_session
from ..services import audit, clients, realms
from ..services.errors import InvalidInput
from .common import (
    client_address,
    load_realm,
    require_admin,
    require_recent_sign_in,
    single,
)

bp = Blueprint("admin_settings", __name__, url_prefix="/realms/<realm>/admin")

REQUIRE_2FA_LABELS = {
    "none": "Nobody",
    "admins": "Admins",
    "all": "Everyone",
}


@bp.url_value_preprocessor
def _realm(endpoint: str | None, values: dict[str, Any] | None) -> None:
    if values and "realm" in values:
        load_realm(values["realm"])


@bp.before_request
def _admin_only() -> Response | None:
    return require_admin(g.idp_realm)


def _actor() -> str:
    return audit.actor_for(g.user, admin=True)


def _render(template: str, http_status: int = 200, /, **context: Any) -> Response:
    return make_response(
        render_template(template, realm=g.idp_realm, user=g.user, **context), http_status
    )


def _settings_page(http_status: int = 200, error: str | None = None) -> Response:
    return _render(
        "admin/settings.html",
        http_status,
        policy=realms.realm_policy(g.idp_realm),
        choices=REQUIRE_2FA_LABELS,
        max_days=realms.POLICY_DAYS_MAX,
        error=error,
    )


@bp.get("/settings")
def settings(realm: str) -> Response:
    return _settings_page()


@bp.post("/settings")
def save_settings(realm: str) -> Response:
    # Read every field first: a repeated field is a 400 before anything else happens.
    require_2fa = single("require_2fa")
    grace_days = single("grace_days")
    trust_browser_days = single("trust_browser_days")
    denied = require_recent_sign_in(g.idp_realm, g.user)
    if denied:
        return denied
    db = get_session()
    try:
        changes = realms.set_realm_policy(
            db,
            g.idp_realm,
            require_2fa=require_2fa,
            grace_days=grace_days,
            trust_browser_days=trust_browser_days,
            actor=_actor(),
            client_address=client_address(),
        )
    except InvalidInput as exc:
        db.rollback()
        return _settings_page(400, f"Nothing was saved. {exc}")
    db.commit()
    flash("The realm settings are saved." if changes else "Nothing changed.")
    return redirect(url_for("admin_settings.settings", realm=realm))


@bp.get("/clients")
def clients_list(realm: str) -> Response:
    return _render("admin/clients.html", rows=clients.list_clients(get_session(), g.idp_realm))


@bp.post("/clients")
def set_client_policy(realm: str) -> Response:
    client_id = single("client_id")
    value = single("require_2fa")
    if value not in ("yes", "no"):
        abort(400, description="The field 'require_2fa' must be yes or no.")
    client = clients.find_client(get_session(), g.idp_realm, client_id or "")
    if client is None:
        abort(404)
    denied = require_recent_sign_in(g.idp_realm, g.user)
    if denied:
        return denied
    db = get_session()
    clients.set_client_require_2fa(
        db, client, value == "yes", actor=_actor(), client_address=client_address()
    )
    db.commit()
    flash(
        f"{client.name} ({client.client_id}) "
        + (
            "now requires two-factor authentication."
            if client.require_2fa
            else "no longer requires two-factor authentication."
        )
    )
    return redirect(url_for("admin_settings.clients_list", realm=realm))
