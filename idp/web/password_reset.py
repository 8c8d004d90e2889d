"""Forgot password (issue 9): ask for a link, follow it, choose a new password.

- ``/realms/<realm>/forgot-password`` asks for the address. Linked from the sign-in page
  with ``?login=<uid>``: the sign-in is kept (in this browser's signed session) so that,
  when the reset is done and the sign-in is still valid, the user goes on signing in to the
  application. Without it (the lockout message, a bookmark) the way on is the account page's
  sign-in. The answer is one page, status and body whatever the address.
- ``/realms/<realm>/reset-password/<token>`` is the emailed link. As Django's
  ``PasswordResetConfirmView`` does, it moves the token from the address into the browser's
  signed session and redirects to ``/realms/<realm>/reset-password``, so the token is not in
  the page's address (history, a shared screen) while the form is open. Opening the link
  spends nothing (mail scanners open links); choosing the password does.
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
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from ..db import get_session
from ..i18n import current_locale
from ..interaction import flow
from ..models import Interaction, User
from ..services import factors, password_reset
from ..services.errors import InvalidInput, TooManyAttempts
from .common import binding_for, client_address, load_realm, single
from .login_pages import TOO_MANY_ATTEMPTS, countdown

bp = Blueprint("password_reset", __name__, url_prefix="/realms/<realm>")

#: Keys in the signed browser session: the link's token while its form is open, and the
#: sign-in the request was made from.
TOKEN = "pw_reset"  # noqa: S105 - a session key, not a password
LOGIN = "pw_reset_login"


@bp.url_value_preprocessor
def _realm(endpoint: str | None, values: dict[str, Any] | None) -> None:
    if values and "realm" in values:
        load_realm(values["realm"])


def _render(template: str, status: int = 200, /, **context: Any) -> Response:
    return make_response(
        render_template(
            template, realm=g.idp_realm, minutes=password_reset.LINK_TTL // 60, **context
        ),
        status,
    )


def _sign_in(uid: str | None) -> Interaction | None:
    """This browser's sign-in ``uid`` of this realm, if it is still valid."""
    if not uid:
        return None
    try:
        return flow.load_interaction(get_session(), g.idp_realm, uid, binding_for(uid))
    except flow.InteractionError:
        return None


def _kept_sign_in() -> Interaction | None:
    kept = session.get(LOGIN)
    if isinstance(kept, dict) and kept.get("realm") == g.idp_realm.name:
        return _sign_in(kept.get("uid"))
    return None


def _back_url(ix: Interaction | None) -> str:
    if ix is not None:
        return url_for("login.start", realm=g.idp_realm.name, uid=ix.uid)
    return url_for("account.home", realm=g.idp_realm.name)


@bp.route("/forgot-password", methods=["GET", "POST"])
def forgot(realm: str) -> Response:
    """Ask for a reset link. The answer never says whether the address has an account."""
    uid = single("login", request.args) or single("login") or None
    ix = _sign_in(uid)
    if ix is not None:
        session[LOGIN] = {"realm": g.idp_realm.name, "uid": ix.uid}
    elif request.method == "GET":
        session.pop(LOGIN, None)
    context: dict[str, Any] = {"login_uid": ix.uid if ix else None, "back": _back_url(ix)}
    if request.method == "GET":
        return _render("login/forgot.html", email=_hint(ix), **context)
    email = (single("email") or "").strip()
    if not email or len(email) > 320:
        return _render(
            "login/forgot.html", 400, email="", error=_("Enter your email address."), **context
        )
    db = get_session()
    try:
        password_reset.request_password_reset(
            db, g.idp_realm, email, client_address=client_address(), locale=current_locale()
        )
    except TooManyAttempts as exc:
        db.commit()
        resp = _render(
            "login/forgot.html",
            429,
            email=email,
            error=TOO_MANY_ATTEMPTS,
            wait=countdown(exc.retry_after, "forgot-form"),
            **context,
        )
        resp.headers["Retry-After"] = str(exc.retry_after)
        return resp
    db.commit()
    return _render("login/forgot_sent.html", **context)


def _hint(ix: Interaction | None) -> str:
    """The address the sign-in already knows (its user or login hint), to save typing."""
    if ix is None:
        return ""
    if ix.user_id:
        user = get_session().get(User, ix.user_id)
        return user.email if user is not None else ""
    return ix.login_hint or ""


@bp.get("/reset-password/<token>")
def open_link(realm: str, token: str) -> BaseResponse:
    """The emailed link: keep the token in this browser's session, out of the address."""
    session[TOKEN] = {"realm": g.idp_realm.name, "token": token[:100]}
    return redirect(url_for("password_reset.choose", realm=g.idp_realm.name))


def _kept_token() -> str:
    kept = session.get(TOKEN)
    if isinstance(kept, dict) and kept.get("realm") == g.idp_realm.name:
        return str(kept.get("token") or "")
    return ""


def _invalid_link() -> Response:
    if _kept_token():  # this realm's link is spent or dead; another realm's stays
        session.pop(TOKEN, None)
    ix = _kept_sign_in()
    return _render(
        "login/reset_invalid.html",
        400,
        again=url_for("password_reset.forgot", realm=g.idp_realm.name, login=ix.uid)
        if ix
        else url_for("password_reset.forgot", realm=g.idp_realm.name),
    )


@bp.route("/reset-password", methods=["GET", "POST"])
def choose(realm: str) -> BaseResponse:
    """Choose the new password (twice, as on the account page), then on to sign in."""
    db = get_session()
    token = _kept_token()
    try:
        user = password_reset.user_for_link(db, g.idp_realm, token)
    except password_reset.InvalidResetLink:
        return _invalid_link()
    # "Two-factor authentication stays on" only to a user who has it.
    form = {"email": user.email, "has_2fa": factors.has_second_factor(db, user)}
    if request.method == "GET":
        return _render("login/reset.html", **form)
    new = single("new_password") or ""
    if new != (single("confirm_password") or ""):
        error = _("The new passwords do not match.")
        return _render("login/reset.html", 400, error=error, **form)
    try:
        password_reset.reset_password_by_link(
            db, g.idp_realm, token, new, client_address=client_address()
        )
    except InvalidInput as exc:
        db.rollback()
        # The password rules' refusal (marked N_ in idp.services.passwords), translated.
        return _render("login/reset.html", 400, error=_(str(exc)), **form)
    except password_reset.InvalidResetLink:
        db.rollback()
        return _invalid_link()
    db.commit()
    session.pop(TOKEN, None)
    ix = _kept_sign_in()
    session.pop(LOGIN, None)
    flash(
        _("Your password is reset, and every device is signed out. Sign in with your new password.")
    )
    return redirect(_back_url(ix))
