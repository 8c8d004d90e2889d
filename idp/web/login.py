"""Hosted sign-in pages: run the interaction's stages, then finish it. An authorization
request is resumed by the protocol side at its own endpoint; an own page (account, console)
gets the browser back.

This module holds the sign-in's own address, the password page, "Start over" and Cancel;
the stages' pages are in ``login_codes`` (codes, enrolment, backup codes) and ``login_keys``
(security keys, passkeys), all on the blueprint of ``login_bp``; each page makes one call
down (``login_walk``); what the pages show around their forms is in ``login_pages``."""

from __future__ import annotations

from typing import Any

from flask import g, redirect, request, url_for
from werkzeug.wrappers import Response

from .. import assurance
from ..db import get_session
from ..interaction import flow
from ..models import Realm
from ..services import security_keys
from ..services.errors import AccountDisabled, InvalidCredentials, TooManyAttempts
from ..services.users import authenticate_password
from . import login_codes, login_keys
from .common import client_address, forget_binding, is_local_path, remember_binding, single
from .login_bp import bp
from .login_pages import (
    ACCOUNT_DISABLED,
    WRONG_PASSWORD,
    render_page,
    stale_page,
    throttled_page,
)
from .login_walk import go_on, load, run_stage, user_of

__all__ = ["bp", "cancel_target"]

#: The stages' pages, registered on ``bp`` when imported.
STAGE_PAGES = (login_codes, login_keys)


@bp.get("")
def start(realm: str, uid: str) -> Response:
    return run_stage(uid, None)


@bp.route("/password", methods=["GET", "POST"])
def password(realm: str, uid: str) -> Response:
    ix = load(uid)
    if isinstance(ix, Response):
        return ix
    if assurance.PASSWORD in (ix.amr or []):
        return go_on(ix, user_of(ix))
    preset = user_of(ix)
    context: dict[str, Any] = {
        "preset": preset,
        "email": preset.email if preset else (ix.login_hint or ""),
        # issue 10: "Sign in with a passkey", where the realm allows it
        "passkeys": security_keys.available() and g.idp_realm.passkey_sign_in,
    }
    if request.method == "GET":
        return render_page("login/password.html", ix, **context)
    email = single("email") or ""
    secret = single("password") or ""
    if preset is not None:
        email = preset.email
    context["email"] = email
    db = get_session()
    try:
        user = authenticate_password(
            db, g.idp_realm, email, secret, client_address=client_address()
        )
        if preset is not None and user.id != preset.id:
            raise InvalidCredentials()
    except TooManyAttempts as exc:
        db.commit()
        return throttled_page("login/password.html", ix, exc, form_id="sign-in-form", **context)
    except (InvalidCredentials, AccountDisabled) as exc:
        db.commit()
        message = WRONG_PASSWORD if isinstance(exc, InvalidCredentials) else ACCOUNT_DISABLED
        return render_page("login/password.html", ix, status=401, error=message, **context)
    return go_on(ix, user, assurance.BY_PASSWORD)


@bp.post("/restart")
def restart(realm: str, uid: str) -> Response:
    """Start over ("Not you?"): the same request (or own page) signs in afresh from the
    password page; the user this sign-in identified and the factors it proved are dropped."""
    ix = load(uid)
    if isinstance(ix, Response):
        return ix
    db = get_session()
    fresh, binding = flow.restart_interaction(db, g.idp_realm, ix)
    db.commit()
    forget_binding(ix.uid)
    remember_binding(fresh.uid, binding)
    return redirect(url_for("login.start", realm=g.idp_realm.name, uid=fresh.uid))


def cancel_target(realm: Realm, return_to: str | None) -> str:
    """Where Cancel on a re-authentication leads: never back to ``return_to`` (the page of
    the sensitive action itself) but to a safe page chosen by its path: the console's home
    for a console action (under ``/realms/<realm>/admin``), otherwise the account page. Only
    these two fixed pages, so no return path can make it an open redirect."""
    console = f"/realms/{realm.name}/admin"
    path = (return_to or "").partition("?")[0]
    if is_local_path(realm, return_to) and (path == console or path.startswith(console + "/")):
        return url_for("admin.index", realm=realm.name)
    return url_for("account.home", realm=realm.name)


@bp.get("/cancel")
def cancel(realm: str, uid: str) -> Response:
    """Cancel on the re-authentication page ("Confirm it's you"; a plain link): the action
    that asked for it is not taken, the re-authentication is used up (its forms lead to the
    "sign-in ended" page), and the browser goes to ``cancel_target``. Any other sign-in (an
    authorization request, a sign-in of a signed-out browser) is not cancelled here: it goes
    on where it was."""
    ix = load(uid)
    if isinstance(ix, Response):
        return ix
    if ix.kind != "local" or ix.reason != "reauth":
        return go_on(ix, user_of(ix))
    target = cancel_target(g.idp_realm, ix.return_to)
    db = get_session()
    try:
        flow.complete(db, ix)
    except flow.InteractionNotFound:
        db.rollback()
        return stale_page(uid, "unknown")
    db.commit()
    forget_binding(uid)
    return redirect(target)
