"""Hosted sign-in pages: run the interaction's stages, then finish it (SSO session + resume
the authorization, or return to the account page that asked)."""

from __future__ import annotations

from typing import Any

from authlib.oauth2 import OAuth2Error
from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    url_for,
)

from ..db import get_session
from ..interaction import flow
from ..interaction.stages import next_stage
from ..models import Interaction, User
from ..oidc.claims import Principal, acr_for
from ..services import backup_codes
from ..services.audit import record_event
from ..services.errors import (
    AccountDisabled,
    InvalidCode,
    InvalidCredentials,
    TooManyAttempts,
)
from ..services.factors import verify_second_factor
from ..services.sessions import create_sso_session, end_sso_session
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
    too_many_attempts,
)
from .protocol import authorization_response, oauth_error_response

bp = Blueprint("login", __name__, url_prefix="/realms/<realm>/login/<uid>")

WRONG_PASSWORD = "Invalid email or password."  # noqa: S105 (a message, not a secret)
WRONG_CODE = (
    "That code was not right. Codes change every 30 seconds: enter the code your app shows "
    "now, and check that your phone's clock is set automatically."
)
WRONG_BACKUP_CODE = "That backup code was not right, or it was used already."


@bp.url_value_preprocessor
def _realm(endpoint: str | None, values: dict[str, Any] | None) -> None:
    if values and "realm" in values:
        load_realm(values["realm"])


def _interaction(uid: str) -> Interaction | Response:
    try:
        return flow.load_interaction(get_session(), g.idp_realm, uid, binding_for(uid))
    except flow.InteractionExpired:
        return _stale("expired")
    except flow.InteractionNotFound:
        return _stale("unknown")


def _stale(kind: str) -> Response:
    return make_response(render_template("login/stale.html", realm=g.idp_realm, kind=kind), 400)


def _user(ix: Interaction) -> User | None:
    return get_session().get(User, ix.user_id) if ix.user_id else None


def _too_many(template: str, exc: TooManyAttempts, **context: Any) -> Response:
    return too_many_attempts(
        exc, lambda error: make_response(render_template(template, error=error, **context))
    )


def _continue(ix: Interaction, user: User | None) -> Response:
    stage = next_stage(get_session(), ix, user)
    if stage is not None:
        return redirect(url_for(stage.endpoint, realm=g.idp_realm.name, uid=ix.uid))
    if user is not None and "backup_code" in (ix.amr or []):
        return redirect(url_for("login.notice", realm=g.idp_realm.name, uid=ix.uid))
    return _finish(ix, user)


def _finish(ix: Interaction, user: User | None) -> Response:
    """Complete the interaction: a new SSO session (new id), then resume."""
    realm = g.idp_realm
    db = get_session()
    if user is None or user.disabled:
        return _stale("unknown")
    amr, auth_time = flow.complete(db, ix)
    old = current_sso(realm)
    if old is not None:
        end_sso_session(db, old)
    sso, cookie_value = create_sso_session(db, user, amr=amr, acr=acr_for(amr), auth_time=auth_time)
    record_event(
        db,
        realm.id,
        "login.succeeded",
        actor=f"user:{user.email}",
        subject=user,
        client_address=client_address(),
        detail={"amr": amr},
    )
    db.commit()
    forget_binding(ix.uid)
    if ix.kind == "authorize":
        server = current_app.extensions["idp.server"]
        principal = Principal(user=user, amr=amr, auth_time=auth_time, sid=sso.sid)
        req = server.resume_request(
            ix.params, url_for("protocol.authorize", realm=realm.name, _external=True)
        )
        try:
            grant = server.get_consent_grant(request=req, end_user=principal)
            resp = authorization_response(req, principal, grant)
        except OAuth2Error as error:
            resp = oauth_error_response(error, ix.params)
    else:
        target = ix.return_to if is_local_path(realm, ix.return_to) else None
        resp = redirect(target or url_for("account.home", realm=realm.name))
    set_sso_cookie(resp, realm, cookie_value)
    return resp


@bp.get("")
def start(realm: str, uid: str) -> Response:
    ix = _interaction(uid)
    if isinstance(ix, Response):
        return ix
    return _continue(ix, _user(ix))


@bp.route("/password", methods=["GET", "POST"])
def password(realm: str, uid: str) -> Response:
    from flask import request

    ix = _interaction(uid)
    if isinstance(ix, Response):
        return ix
    preset = _user(ix) if "pwd" not in (ix.amr or []) else None
    context = {
        "realm": g.idp_realm,
        "ix": ix,
        "preset": preset,
        "email": preset.email if preset else (ix.login_hint or ""),
    }
    if "pwd" in (ix.amr or []):
        return _continue(ix, _user(ix))
    if request.method == "GET":
        return make_response(render_template("login/password.html", **context))
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
        return _too_many("login/password.html", exc, **context)
    except (InvalidCredentials, AccountDisabled) as exc:
        db.commit()
        message = (
            WRONG_PASSWORD
            if isinstance(exc, InvalidCredentials)
            else "This account is disabled. Contact your administrator."
        )
        return make_response(render_template("login/password.html", error=message, **context), 401)
    binding = flow.advance(db, ix, user=user, amr=["pwd"])
    db.commit()
    remember_binding(uid, binding)
    return _continue(ix, user)


def _second_factor(uid: str, kind: str, template: str, amr: list[str], wrong: str) -> Response:
    from flask import request

    ix = _interaction(uid)
    if isinstance(ix, Response):
        return ix
    user = _user(ix)
    if user is None or "pwd" not in (ix.amr or []):
        return redirect(url_for("login.start", realm=g.idp_realm.name, uid=uid))
    if "mfa" in (ix.amr or []):
        return _continue(ix, user)
    context = {"realm": g.idp_realm, "ix": ix}
    if request.method == "GET":
        return make_response(render_template(template, **context))
    db = get_session()
    try:
        verify_second_factor(
            db, g.idp_realm, user, single("code"), kind=kind, client_address=client_address()
        )
    except TooManyAttempts as exc:
        db.commit()
        return _too_many(template, exc, **context)
    except InvalidCode:
        db.commit()
        return make_response(render_template(template, error=wrong, **context), 401)
    binding = flow.advance(db, ix, user=user, amr=amr)
    db.commit()
    remember_binding(uid, binding)
    return _continue(ix, user)


@bp.route("/totp", methods=["GET", "POST"])
def totp(realm: str, uid: str) -> Response:
    return _second_factor(uid, "totp", "login/totp.html", ["otp", "mfa"], WRONG_CODE)


@bp.route("/backup-code", methods=["GET", "POST"])
def backup_code(realm: str, uid: str) -> Response:
    return _second_factor(
        uid, "backup_code", "login/backup_code.html", ["mfa", "backup_code"], WRONG_BACKUP_CODE
    )


@bp.route("/notice", methods=["GET", "POST"])
def notice(realm: str, uid: str) -> Response:
    """After a backup-code sign-in: how many codes are left, and the advice to set 2FA up
    again (SPEC B6). Continuing finishes the sign-in."""
    from flask import request

    ix = _interaction(uid)
    if isinstance(ix, Response):
        return ix
    user = _user(ix)
    if user is None or next_stage(get_session(), ix, user) is not None:
        return redirect(url_for("login.start", realm=g.idp_realm.name, uid=uid))
    if request.method == "POST":
        return _finish(ix, user)
    left = backup_codes.count_unused(get_session(), user.id)
    return make_response(
        render_template("login/backup_notice.html", realm=g.idp_realm, ix=ix, left=left)
    )
