"""Hosted sign-in pages: run the interaction's stages, then finish it. An authorization
request is resumed by the protocol side at its own endpoint; an own page (account, console)
gets the browser back.

This module holds the sign-in's own address, the password page, "Start over" and Cancel;
the other stages' pages are in ``login_codes`` (codes, enrolment, backup codes) and
``login_keys`` (security keys, passkeys), all on the blueprint of ``login_bp``. A stage's
page makes one call down (``login_walk.run_stage``): the stage (``interaction/stages.py``)
decides what it shows and checks what was posted. What the pages show around their forms
is in ``login_pages``."""

from __future__ import annotations

from flask import g, redirect, url_for
from werkzeug.wrappers import Response

from ..db import get_session
from ..interaction import flow
from ..models import Realm
from . import login_codes, login_keys
from .common import forget_binding, is_local_path, remember_binding
from .login_bp import bp
from .login_pages import (
    stale_page,
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
    return run_stage(uid, "login.password")


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
