"""The user's own settings: profile, sign-out, and two-factor authentication (SPEC 1, 3, 4).

Sensitive actions (enable or replace the key, disable, new backup codes) need a recent
sign-in with every factor the user has; otherwise the user re-authenticates first.
Enabling (or replacing) the key signs the user's other sessions out; this one stays.
Where a policy requires 2FA of the user (SPEC P5) they may replace the key but not disable
it. Trusted browsers (SPEC P8) are listed on the 2FA page and revoked one by one; revoking
only takes trust away, so it needs no recent sign-in.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    url_for,
)

from ..db import get_session, utcnow
from ..interaction.context import second_factor_required_by
from ..models import TrustedBrowser, User
from ..services import backup_codes, factors, trusted_browsers, users
from ..services.crypto import digest
from ..services.errors import (
    AccountDisabled,
    InvalidCode,
    InvalidCredentials,
    InvalidInput,
    NotFound,
    TooManyAttempts,
)
from ..services.sessions import end_sso_session, revoke_session_tokens
from .common import (
    clear_sso_cookie,
    client_address,
    current_sso,
    current_user,
    load_realm,
    require_recent_sign_in,
    require_sign_in,
    single,
    too_many_attempts,
    totp_enrolment,
)

bp = Blueprint("account", __name__, url_prefix="/realms/<realm>/account")


@bp.url_value_preprocessor
def _realm(endpoint: str | None, values: dict[str, Any] | None) -> None:
    if values and "realm" in values:
        load_realm(values["realm"])


@bp.before_request
def _signed_in() -> Response | None:
    user = current_user(g.idp_realm)
    if user is None:
        return require_sign_in(g.idp_realm)
    g.user = user
    return None


def _render(template: str, http_status: int = 200, /, **context: Any) -> Response:
    # Positional-only: templates take a ``status`` variable (the two-factor status).
    return make_response(
        render_template(template, realm=g.idp_realm, user=g.user, **context), http_status
    )


@bp.get("/")
def home(realm: str) -> Response:
    return _render("account/home.html")


@bp.post("/sign-out")
def sign_out(realm: str) -> Response:
    db = get_session()
    sso = current_sso(g.idp_realm)
    if sso is not None:
        end_sso_session(db, sso)
        revoke_session_tokens(db, sso.sid)
        db.commit()
    resp = make_response(render_template("login/logged_out.html", realm=g.idp_realm))
    clear_sso_cookie(resp, g.idp_realm)
    return resp


@bp.route("/password", methods=["GET", "POST"])
def password(realm: str) -> Response:
    """Change one's own password: the current one, then the new one twice. Other sessions
    end and their tokens are revoked; this one stays."""
    from flask import request

    if request.method == "GET":
        return _render("account/password.html")
    current = single("current_password") or ""
    new = single("new_password") or ""
    if new != (single("confirm_password") or ""):
        return _render("account/password.html", 400, error="The new passwords do not match.")
    db = get_session()
    sso = current_sso(g.idp_realm)
    try:
        users.change_password(
            db,
            g.user,
            current,
            new,
            keep_sid=sso.sid if sso else None,
            client_address=client_address(),
        )
    except TooManyAttempts as exc:
        db.commit()
        return too_many_attempts(exc, lambda error: _render("account/password.html", error=error))
    except (InvalidCredentials, AccountDisabled):
        db.commit()  # the failure counts
        return _render("account/password.html", 401, error="The current password is not right.")
    except InvalidInput as exc:
        db.rollback()
        return _render("account/password.html", 400, error=str(exc))
    db.commit()
    flash("Your password is changed. Other devices are signed out.")
    return redirect(url_for("account.home", realm=realm))


#: Why Disable is not offered (SPEC P5), by the policy that requires the second factor.
REQUIRED_BECAUSE = {
    "realm": "Your organization requires two-factor authentication for your account, so "
    "you can set up a new authenticator app but not disable it.",
    "client": "An app you sign in to here requires two-factor authentication, so you can "
    "set up a new authenticator app but not disable it.",
}


def _this_browser_digest() -> str | None:
    from flask import request

    token = request.cookies.get(trusted_browsers.COOKIE)
    return digest(token) if token and len(token) <= 200 else None


@bp.get("/two-factor")
def two_factor(realm: str) -> Response:
    db = get_session()
    status = factors.two_factor_status(db, g.user)
    required_by = second_factor_required_by(db, g.idp_realm, g.user)
    return _render(
        "account/two_factor.html",
        status=status,
        low=backup_codes.LOW_WATERMARK,
        required_because=REQUIRED_BECAUSE.get(required_by or ""),
        trusts=trusted_browsers.list_trusts(db, g.idp_realm, g.user),
        this_browser=_this_browser_digest(),
    )


@bp.post("/two-factor/trusted-browsers/<int:trust_id>/revoke")
def revoke_trusted_browser(realm: str, trust_id: int) -> Response:
    """SPEC P8: stop trusting one browser; the next sign-in there asks for the code."""
    db = get_session()
    this_browser = _this_browser_digest()
    row = db.get(TrustedBrowser, trust_id)
    was_this_browser = row is not None and row.token_digest == this_browser
    if trusted_browsers.revoke_trust(db, g.user, trust_id, client_address=client_address()):
        db.commit()
        flash("That browser is no longer trusted. Signing in there asks for a code again.")
    resp = redirect(url_for("account.two_factor", realm=realm))
    if was_this_browser:
        resp.delete_cookie(trusted_browsers.COOKIE, path=f"/realms/{g.idp_realm.name}/")
    return resp


def _enrolment_context(user: User) -> dict[str, Any]:
    return {
        **totp_enrolment(g.idp_realm, user),
        "replacing": factors.has_second_factor(get_session(), user),
    }


@bp.route("/two-factor/enable", methods=["GET", "POST"])
def enable(realm: str) -> Response:
    from flask import request

    denied = require_recent_sign_in(g.idp_realm, g.user)
    if denied:
        return denied
    db = get_session()
    if request.method == "GET":
        return _render("account/enable.html", **_enrolment_context(g.user))
    try:
        sso = current_sso(g.idp_realm)
        codes = factors.enable_totp(
            db,
            g.user,
            single("code"),
            actor=f"user:{g.user.email}",
            client_address=client_address(),
            keep_sid=sso.sid if sso else None,
        )
    except (InvalidCode, NotFound):
        db.rollback()
        return _render(
            "account/enable.html",
            400,
            **_enrolment_context(g.user),
            error="That code was not right. Enter the 6-digit code your app "
            "shows now, and check that your phone's clock is set automatically.",
        )
    db.commit()
    return _render(
        "account/backup_codes.html",
        codes=codes,
        enabled_now=True,
        formatted=[backup_codes.format_code(c) for c in codes],
    )


@bp.route("/two-factor/backup-codes", methods=["GET", "POST"])
def new_backup_codes(realm: str) -> Response:
    """Issue a new set (invalidates every earlier code, SPEC B3) and show it once."""
    from flask import request

    denied = require_recent_sign_in(g.idp_realm, g.user)
    if denied:
        return denied
    if request.method == "GET":
        return _render("account/backup_codes_confirm.html")
    db = get_session()
    try:
        codes = factors.regenerate_backup_codes(
            db, g.user, actor=f"user:{g.user.email}", client_address=client_address()
        )
    except NotFound:
        return redirect(url_for("account.two_factor", realm=realm))
    db.commit()
    return _render(
        "account/backup_codes.html",
        codes=codes,
        enabled_now=False,
        formatted=[backup_codes.format_code(c) for c in codes],
    )


@bp.post("/two-factor/backup-codes/download")
def download_backup_codes(realm: str) -> Response:
    """The text file of SPEC B2, for the set just shown. The server does not keep plain
    codes: the page posts them back, and only unused codes of the user's current set are
    written to the file."""
    from flask import request

    db = get_session()
    posted = request.form.getlist("code")[: backup_codes.COUNT]
    codes = [c for c in posted if backup_codes.is_current_code(db, g.user, c)]
    if not codes:
        flash("Those backup codes are no longer valid. Issue a new set.")
        return redirect(url_for("account.two_factor", realm=realm))
    text = backup_codes.render_download(
        codes,
        realm_display=g.idp_realm.display_name,
        account=g.user.email,
        issued=utcnow().strftime("%Y-%m-%d"),
    )
    resp = make_response(text)
    resp.headers["Content-Type"] = "text/plain; charset=utf-8"
    filename = f"backup-codes-{g.idp_realm.name}.txt"
    resp.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return resp


@bp.route("/two-factor/disable", methods=["GET", "POST"])
def disable(realm: str) -> Response:
    from flask import request

    db = get_session()
    required_by = second_factor_required_by(db, g.idp_realm, g.user)
    if required_by is not None:
        # SPEC P5: refused before anything else (no re-authentication for nothing).
        flash(REQUIRED_BECAUSE[required_by])
        return redirect(url_for("account.two_factor", realm=realm))
    denied = require_recent_sign_in(g.idp_realm, g.user)
    if denied:
        return denied
    if not factors.has_second_factor(db, g.user):
        return redirect(url_for("account.two_factor", realm=realm))
    if request.method == "GET":
        return _render("account/disable_confirm.html")
    factors.disable_two_factor(db, g.user, client_address=client_address())
    db.commit()
    flash("Two-factor authentication is disabled.")
    return redirect(url_for("account.two_factor", realm=realm))
