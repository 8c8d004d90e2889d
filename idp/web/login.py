"""Hosted sign-in pages: run the interaction's stages, then finish it. An authorization
request is resumed by the protocol side at its own endpoint; an own page (account, console)
gets the browser back.

This module holds the blueprint, the walk through the stages, the password page and "Start
over"; the code pages (second factor, enrolment, backup codes) are in ``login_codes``; what
the pages show around their forms is in ``login_pages``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, redirect, request, url_for

from ..db import get_session
from ..i18n import current_locale, use_interaction_locale
from ..interaction import flow
from ..interaction.finish import finish_interaction
from ..interaction.stages import StageContext, next_stage
from ..models import Interaction, Realm, User
from ..services import security_keys, trusted_browsers
from ..services.errors import AccountDisabled, InvalidCredentials, TooManyAttempts
from ..services.users import authenticate_password
from .common import (
    binding_for,
    client_address,
    current_sso,
    forget_binding,
    is_local_path,
    load_realm,
    remember_binding,
    set_sso_cookie,
    single,
)
from .login_pages import (
    ACCOUNT_DISABLED,
    WRONG_PASSWORD,
    render_page,
    stale_page,
    throttled_page,
)

bp = Blueprint("login", __name__, url_prefix="/realms/<realm>/login/<uid>")


@bp.url_value_preprocessor
def _realm(endpoint: str | None, values: dict[str, Any] | None) -> None:
    if values and "realm" in values:
        load_realm(values["realm"])


def load(uid: str) -> Interaction | Response:
    """This browser's interaction, or the page to show instead."""
    try:
        ix = flow.load_interaction(get_session(), g.idp_realm, uid, binding_for(uid))
        # The sign-in keeps its language: ui_locales, or the switch used during it.
        if switched := use_interaction_locale(ix.progress or {}, ix.params or {}):
            flow.set_progress(ix, locale=switched)
            get_session().commit()
        return ix
    except flow.InteractionFinished:
        # Every stage ran (the back button after finishing): resume what asked for it.
        return redirect(url_for("protocol.resume", realm=g.idp_realm.name, uid=uid))
    except flow.InteractionExpired:
        return stale_page(uid, "expired")
    except flow.InteractionNotFound:
        return stale_page(uid, "unknown")


def user_of(ix: Interaction) -> User | None:
    return get_session().get(User, ix.user_id) if ix.user_id else None


def trust_token() -> str | None:
    return request.cookies.get(trusted_browsers.COOKIE)


def stage_context(ix: Interaction, user: User | None) -> StageContext:
    db = get_session()
    trusted = (
        user is not None
        and trusted_browsers.find_trust(db, g.idp_realm, user, trust_token()) is not None
    )
    return StageContext(db=db, realm=g.idp_realm, interaction=ix, user=user, trusted=trusted)


def go_on(ix: Interaction, user: User | None) -> Response:
    """Send the browser to the first stage that still applies, or finish."""
    stage = next_stage(stage_context(ix, user))
    if stage is not None:
        return redirect(url_for(stage.endpoint, realm=g.idp_realm.name, uid=ix.uid))
    return _finish(ix, user)


def _finish(ix: Interaction, user: User | None) -> Response:
    realm = g.idp_realm
    db = get_session()
    if user is None or user.disabled:
        return stale_page(ix.uid, "unknown")
    previous = current_sso(realm)
    if ix.from_sid and (previous is None or previous.sid != ix.from_sid):
        # A step-up counts the factors of the session it started from: that session must
        # still be this browser's (not signed out, not replaced) when it finishes.
        return stale_page(ix.uid, "unknown")
    try:
        done = finish_interaction(
            db,
            realm,
            ix,
            user,
            previous=previous,
            client_address=client_address(),
            user_agent=request.headers.get("User-Agent", ""),
            locale=current_locale(),
        )
    except flow.InteractionEnded:
        db.rollback()
        return stale_page(ix.uid, "unknown")
    db.commit()
    if ix.kind == "authorize":
        # The protocol side resumes the authorization at its own endpoint.
        resp = redirect(url_for("protocol.resume", realm=realm.name, uid=ix.uid))
    else:
        forget_binding(ix.uid)
        target = ix.return_to if is_local_path(realm, ix.return_to) else None
        resp = redirect(target or url_for("account.home", realm=realm.name))
    set_sso_cookie(resp, realm, done.cookie_value)
    return resp


def stage_page(
    uid: str, endpoint: str, *alternative_to: str
) -> tuple[Interaction, User] | Response:
    """The interaction and user for a stage's page, or where to go instead when this stage
    does not apply (a stale link, a stage already done). A page that is an alternative to
    other stages' pages (the authenticator app for a security key) names them."""
    ix = load(uid)
    if isinstance(ix, Response):
        return ix
    user = user_of(ix)
    stage = next_stage(stage_context(ix, user))
    if user is None or stage is None or stage.endpoint not in (endpoint, *alternative_to):
        return go_on(ix, user)
    return ix, user


def advance(ix: Interaction, user: User, amr: list[str]) -> None:
    binding = flow.advance(get_session(), ix, user=user, amr=amr)
    get_session().commit()
    remember_binding(ix.uid, binding)


@bp.get("")
def start(realm: str, uid: str) -> Response:
    ix = load(uid)
    if isinstance(ix, Response):
        return ix
    return go_on(ix, user_of(ix))


@bp.route("/password", methods=["GET", "POST"])
def password(realm: str, uid: str) -> Response:
    ix = load(uid)
    if isinstance(ix, Response):
        return ix
    if "pwd" in (ix.amr or []):
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
    advance(ix, user, ["pwd"])
    return go_on(ix, user)


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


# The code pages register their routes on ``bp``.
from . import login_codes, login_keys  # noqa: E402, F401
