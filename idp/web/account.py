"""The user's own settings: profile, sign-out, and two-factor authentication (SPEC 1, 3, 4).

Sensitive actions (enable or replace the key, disable, new backup codes) need a recent
sign-in with every factor the user has; otherwise the user re-authenticates first.
Enabling (or replacing) the key signs the user's other sessions out; this one stays.
Where a policy requires 2FA of the user (SPEC P5) they may replace the key but not disable
it. Trusted browsers (SPEC P8) are listed on the 2FA page and revoked one by one; revoking
only takes trust away, so it needs no recent sign-in.

A new set of backup codes is shown by POST/redirect/GET: the POST issues the set and keeps
it, encrypted with the data key, in the signed browser session; the GET shows it once and
drops it, so a reload says the codes were shown already and never issues another set.
The home page lists the user's active sessions, each with Sign out, and Sign out
everywhere.
"""

from __future__ import annotations

import json
from typing import Any

from flask import (
    Blueprint,
    Response,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ..db import get_session
from ..interaction.context import second_factor_required_by
from ..models import TrustedBrowser, User
from ..services import backup_codes, factors, sessions, trusted_browsers, users
from ..services.context import cipher
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
from .code_file import backup_codes_download
from .common import (
    clear_sso_cookie,
    client_address,
    current_sso,
    current_user,
    load_realm,
    note_enrolment,
    require_recent_sign_in,
    require_sign_in,
    single,
    totp_enrolment,
)
from .login_pages import countdown

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


def browser_label(user_agent: str | None) -> str:
    """A session's browser in short form, in the page's language ("Firefox on Windows")."""
    browser, platform = sessions.browser_summary(user_agent)
    if browser and platform:
        return _("%(browser)s on %(platform)s", browser=browser, platform=platform)
    return browser or platform or _("Unknown browser")


def _session_rows(user: User) -> list[dict[str, Any]]:
    this = current_sso(g.idp_realm)
    return [
        {
            "handle": sessions.session_handle(row),
            "browser": browser_label(row.user_agent),
            "address": row.client_address,
            "signed_in": row.created_at,
            "this_browser": this is not None and row.id == this.id,
        }
        for row in sessions.list_active_sessions(get_session(), user)
    ]


@bp.get("/")
def home(realm: str) -> Response:
    return _render(
        "account/home.html",
        two_factor_enabled=factors.has_second_factor(get_session(), g.user),
        sessions=_session_rows(g.user),
    )


def _signed_out_here() -> Response:
    resp = make_response(render_template("login/logged_out.html", realm=g.idp_realm))
    clear_sso_cookie(resp, g.idp_realm)
    return resp


@bp.post("/sessions/<handle>/sign-out")
def sign_out_session(realm: str, handle: str) -> Response:
    """End one of the user's own sessions (named by its opaque handle) and revoke its
    tokens; ending this browser's session signs this browser out."""
    db = get_session()
    row = sessions.find_own_session(db, g.user, handle)
    if row is None:
        flash(_("That session has ended already."))
        return redirect(url_for("account.home", realm=realm))
    this = current_sso(g.idp_realm)
    here = this is not None and this.id == row.id
    sessions.sign_out_session(db, g.user, row, this_browser=here, client_address=client_address())
    db.commit()
    if here:
        return _signed_out_here()
    flash(_("That session is signed out."))
    return redirect(url_for("account.home", realm=realm))


@bp.post("/sessions/sign-out-all")
def sign_out_everywhere(realm: str) -> Response:
    """End every session of the user, this one too, and revoke every token."""
    db = get_session()
    sessions.sign_out_everywhere(db, g.user, client_address=client_address())
    db.commit()
    return _signed_out_here()


@bp.post("/sign-out")
def sign_out(realm: str) -> Response:
    db = get_session()
    sso = current_sso(g.idp_realm)
    if sso is not None:
        end_sso_session(db, sso)
        revoke_session_tokens(db, sso.sid)
        db.commit()
    return _signed_out_here()


@bp.route("/password", methods=["GET", "POST"])
def password(realm: str) -> Response:
    """Change one's own password: the current one, then the new one twice. Other sessions
    end and their tokens are revoked; this one stays."""
    if request.method == "GET":
        return _render("account/password.html")
    current = single("current_password") or ""
    new = single("new_password") or ""
    if new != (single("confirm_password") or ""):
        return _render("account/password.html", 400, error=_("The new passwords do not match."))
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
        resp = _render(
            "account/password.html",
            429,
            error=_("Too many attempts."),
            wait=countdown(exc.retry_after, "password-form"),
        )
        resp.headers["Retry-After"] = str(exc.retry_after)
        return resp
    except (InvalidCredentials, AccountDisabled):
        db.commit()  # the failure counts
        return _render("account/password.html", 401, error=_("The current password is not right."))
    except InvalidInput as exc:
        db.rollback()
        # The password rules' refusal (marked N_ in idp.services.passwords), translated.
        return _render("account/password.html", 400, error=_(str(exc)))
    db.commit()
    flash(_("Your password is changed. Other devices are signed out."))
    return redirect(url_for("account.home", realm=realm))


#: Why Disable is not offered (SPEC P5), by the policy that requires the second factor.
REQUIRED_BECAUSE = {
    "realm": _l(
        "Your organization requires two-factor authentication for your account, so "
        "you can set up a new authenticator app but not disable it."
    ),
    "client": _l(
        "An app you sign in to here requires two-factor authentication, so you can "
        "set up a new authenticator app but not disable it."
    ),
}


def _this_browser_digest() -> str | None:
    token = request.cookies.get(trusted_browsers.COOKIE)
    return digest(token) if token and len(token) <= 200 else None


def _trust_label(label: str) -> str:
    """A trusted browser's stored label ("Firefox on Linux") in the page's language."""
    browser, sep, platform = label.partition(" on ")
    if sep and browser and platform:
        return _("%(browser)s on %(platform)s", browser=browser, platform=platform)
    return label


@bp.get("/two-factor")
def two_factor(realm: str) -> Response:
    db = get_session()
    status = factors.two_factor_status(db, g.user)
    required_by = second_factor_required_by(db, g.idp_realm, g.user)
    code_set = backup_codes.current_set(db, g.user) if status.enabled else []
    trusts = trusted_browsers.list_trusts(db, g.idp_realm, g.user)
    return _render(
        "account/two_factor.html",
        status=status,
        low=backup_codes.LOW_WATERMARK,
        used_codes=[c for c in code_set if c.used_at is not None],
        unused_numbers=[c.number for c in code_set if c.used_at is None],
        required_because=REQUIRED_BECAUSE.get(required_by or ""),
        trusts=trusts,
        trust_labels={t.id: _trust_label(t.label) for t in trusts},
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
        flash(_("That browser is no longer trusted. Signing in there asks for a code again."))
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
    denied = require_recent_sign_in(g.idp_realm, g.user)
    if denied:
        return denied
    db = get_session()
    if request.method == "GET":
        return _render("account/enable.html", **_enrolment_context(g.user))
    sso = current_sso(g.idp_realm)
    try:
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
            error=_(
                "That code was not right. Enter the 6-digit code your app "
                "shows now, and check that your phone's clock is set automatically."
            ),
        )
    db.commit()
    if sso is not None:
        note_enrolment(sso)  # the code just typed counts as this session's second factor
    _keep_new_codes(g.user, codes, enabled_now=True)
    return redirect(url_for("account.show_new_backup_codes", realm=realm))


@bp.route("/two-factor/backup-codes", methods=["GET", "POST"])
def new_backup_codes(realm: str) -> Response:
    """Issue a new set (invalidates every earlier code, SPEC B3), then show it once."""
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
    _keep_new_codes(g.user, codes, enabled_now=False)
    return redirect(url_for("account.show_new_backup_codes", realm=realm))


#: Key in the signed browser session of a set just issued, between its POST and its GET.
NEW_CODES = "new_backup_codes"


def _this_sid_digest() -> str:
    sso = current_sso(g.idp_realm)
    return digest(sso.sid) if sso else ""


def _keep_new_codes(user: User, codes: list[str], *, enabled_now: bool) -> None:
    """Carry a new set to the page that shows it: encrypted with the data key (the signed
    session is readable by whoever holds the cookie), bound to the user and this session."""
    payload = {"user": user.id, "sid": _this_sid_digest(), "codes": codes, "enabled": enabled_now}
    session[NEW_CODES] = cipher().encrypt(json.dumps(payload))


def _take_new_codes(user: User) -> tuple[list[str], bool] | None:
    """The set kept by ``_keep_new_codes``, dropped from the session as it is read; None
    when there is none (shown already) or it is no longer the user's current set."""
    token = session.pop(NEW_CODES, None)
    if not isinstance(token, str):
        return None
    try:
        payload = json.loads(cipher().decrypt(token))
    except ValueError:
        return None
    if payload.get("user") != user.id or payload.get("sid") != _this_sid_digest():
        return None
    codes = [c for c in payload.get("codes", []) if isinstance(c, str)]
    current = backup_codes.numbered_current_codes(get_session(), user, codes)
    if not current:
        return None
    return [code for _number, code in current], bool(payload.get("enabled"))


@bp.get("/two-factor/backup-codes/new")
def show_new_backup_codes(realm: str) -> Response:
    """The set just issued, exactly once; a reload says it was shown already."""
    taken = _take_new_codes(g.user)
    if taken is None:
        return _render("account/backup_codes.html", codes=[], formatted=[], enabled_now=False)
    codes, enabled_now = taken
    return _render(
        "account/backup_codes.html",
        codes=codes,
        enabled_now=enabled_now,
        formatted=[backup_codes.format_code(c) for c in codes],
    )


@bp.post("/two-factor/backup-codes/download")
def download_backup_codes(realm: str) -> Response:
    """The file of the set just shown. The server does not keep plain codes: the page
    posts them back, and only unused codes of the user's current set are written."""
    resp = backup_codes_download(
        g.idp_realm, g.user, request.form.getlist("code")[: backup_codes.COUNT]
    )
    if resp is None:
        flash(_("Those backup codes are no longer valid. Issue a new set."))
        return redirect(url_for("account.two_factor", realm=realm))
    return resp


@bp.route("/two-factor/disable", methods=["GET", "POST"])
def disable(realm: str) -> Response:
    db = get_session()
    required_by = second_factor_required_by(db, g.idp_realm, g.user)
    if required_by is not None:
        # SPEC P5: refused before anything else (no re-authentication for nothing).
        flash(str(REQUIRED_BECAUSE[required_by]))
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
    flash(_("Two-factor authentication is disabled."))
    return redirect(url_for("account.two_factor", realm=realm))
