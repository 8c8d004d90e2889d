"""The security-key pages of the hosted sign-in (issue 10), on the ``login`` blueprint: a user
with a key is offered it first after the password, with the authenticator app and a backup
code as alternatives; "Sign in with a passkey" on the password page signs in with a
discoverable credential alone (``key_assertions.verify_passkey``) where the realm allows it;
a user a policy requires 2FA of may enrol a key instead of the authenticator app. The pages
carry the WebAuthn request options (a challenge bound to this interaction, W3C WebAuthn SS 7.2);
``static/webauthn.js`` asks the browser for the assertion and posts it back. Failed
assertions count in the second-factor throttle (SPEC L6); ``amr`` gains ``hwk`` and ``mfa``
(and ``user`` when the key verified the user). The key pages of a sign-in's stages are the
stages' own (``interaction/second_factor.py``, ``interaction/enrolment.py``)."""

from __future__ import annotations

from typing import Any

from flask import g, request
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from .. import assurance
from ..db import get_session
from ..models import Interaction
from ..services import key_assertions, security_keys
from ..services.errors import InvalidCode, TooManyAttempts
from .common import client_address, single
from .login_bp import bp
from .login_pages import render_page, throttled_page
from .login_walk import go_on, load, run_stage, user_of

PASSKEY_REFUSED = _l(
    "That passkey was not accepted: it is not registered here, or your device did not "
    "verify you. Try again, or sign in with your password."
)


@bp.route("/security-key", methods=["GET", "POST"], endpoint="webauthn")
def security_key(realm: str, uid: str) -> Response:
    return run_stage(uid, "login.webauthn")


# -- a passkey alone -----------------------------------------------------------------------------
PASSKEY_TEMPLATE = "login/passkey.html"
PASSKEY_OFF = _l("Signing in with a passkey is turned off here. Sign in with your password.")


def _passkey_page(ix: Interaction, status: int = 200, **extra: Any) -> Response:
    db = get_session()
    available = security_keys.available()
    options = None
    if available:
        options = key_assertions.passkey_options(
            db, g.idp_realm, binding=security_keys.interaction_binding(ix.id)
        )
        db.commit()
    return render_page(
        PASSKEY_TEMPLATE,
        ix,
        status=status,
        user=user_of(ix),
        options=options,
        available=available,
        **extra,
    )


@bp.route("/passkey", methods=["GET", "POST"])
def passkey(realm: str, uid: str) -> Response:
    """Sign in with a passkey instead of the password: only before any factor is proven,
    and only where the realm allows it (a posted assertion is refused unread otherwise)."""
    ix = load(uid)
    if isinstance(ix, Response):
        return ix
    if ix.amr:
        return go_on(ix, user_of(ix))
    if not g.idp_realm.passkey_sign_in:
        if request.method == "GET":
            return go_on(ix, user_of(ix))  # a stale link: the password page
        preset = user_of(ix)
        return render_page(
            "login/password.html",
            ix,
            status=403,
            error=PASSKEY_OFF,
            preset=preset,
            email=preset.email if preset else (ix.login_hint or ""),
            passkeys=False,
        )
    if request.method == "GET":
        return _passkey_page(ix)
    db = get_session()
    try:
        user = key_assertions.verify_passkey(
            db,
            g.idp_realm,
            single("credential"),
            binding=security_keys.interaction_binding(ix.id),
            client_address=client_address(),
            expected_user=user_of(ix),
        )
    except TooManyAttempts as exc:
        db.commit()
        return throttled_page(PASSKEY_TEMPLATE, ix, exc, form_id="key-form", **_passkey_extra(ix))
    except InvalidCode:
        db.commit()
        return _passkey_page(ix, 401, error=PASSKEY_REFUSED)
    return go_on(ix, user, assurance.BY_PASSKEY)


def _passkey_extra(ix: Interaction) -> dict[str, Any]:
    db = get_session()
    options = key_assertions.passkey_options(
        db, g.idp_realm, binding=security_keys.interaction_binding(ix.id)
    )
    db.commit()
    return {"user": user_of(ix), "options": options, "available": True}


# -- a security key at enrolment inside the sign-in (SPEC P1-P3, issue 10) ----------------------
@bp.post("/enrol/security-key", endpoint="enrol_key")
def enrol_key(realm: str, uid: str) -> Response:
    """A user a policy covers adds a security key instead of the authenticator app: the key
    turns 2FA on, the backup codes are shown, and ``amr`` gains what creating it proved."""
    return run_stage(uid, "login.enrol_key")
