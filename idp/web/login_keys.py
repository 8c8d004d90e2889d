"""The security-key pages of the hosted sign-in (issue 10), on the ``login`` blueprint: a user
with a key is offered it first after the password, with the authenticator app and a backup
code as alternatives; "Sign in with a passkey" on the password page signs in with a
discoverable credential alone (``key_assertions.verify_passkey``). The pages carry the
WebAuthn request options (a challenge bound to this interaction, W3C WebAuthn SS 7.2);
``static/webauthn.js`` asks the browser for the assertion and posts it back. Failed
assertions count in the second-factor throttle (SPEC L6); ``amr`` gains ``hwk`` and ``mfa``
(and ``user`` when the key verified the user)."""

from __future__ import annotations

from typing import Any

from flask import Response, g, request
from flask_babel import lazy_gettext as _l

from ..db import get_session
from ..models import Interaction, User
from ..services import factors, key_assertions, security_keys
from ..services.errors import InvalidCode, TooManyAttempts
from ..services.key_assertions import AMR_PASSKEY
from .common import client_address, single
from .login import advance, bp, go_on, load, stage_page, user_of
from .login_pages import render_page, throttled_page

KEY_REFUSED = _l(
    "Your security key was not accepted. Try again, or use another way to sign in below."
)
TEMPLATE = "login/security_key.html"
PASSKEY_REFUSED = _l(
    "That passkey was not accepted: it is not registered here, or your device did not "
    "verify you. Try again, or sign in with your password."
)


def _context(ix: Interaction, user: User) -> dict[str, Any]:
    """What the page shows, with request options whose new challenge replaces any earlier
    one of this sign-in."""
    db = get_session()
    available = security_keys.available()
    options = None
    if available:
        options = key_assertions.authentication_options(
            db, g.idp_realm, user, binding=security_keys.interaction_binding(ix.id)
        )
        db.commit()
    return {
        "user": user,
        "options": options,
        "available": available,
        "has_totp": factors.active_totp(db, user) is not None,
    }


@bp.route("/security-key", methods=["GET", "POST"], endpoint="webauthn")
def security_key(realm: str, uid: str) -> Response:
    found = stage_page(uid, "login.webauthn")
    if isinstance(found, Response):
        return found
    ix, user = found
    if request.method == "GET":
        return render_page(TEMPLATE, ix, **_context(ix, user))
    db = get_session()
    try:
        amr = factors.verify_second_factor(
            db,
            g.idp_realm,
            user,
            single("credential"),
            kind="webauthn",
            client_address=client_address(),
            binding=security_keys.interaction_binding(ix.id),
        )
    except TooManyAttempts as exc:
        db.commit()
        return throttled_page(TEMPLATE, ix, exc, form_id="key-form", **_context(ix, user))
    except InvalidCode:
        db.commit()
        return render_page(TEMPLATE, ix, status=401, error=KEY_REFUSED, **_context(ix, user))
    advance(ix, user, amr)
    return go_on(ix, user)


# -- a passkey alone -----------------------------------------------------------------------------
PASSKEY_TEMPLATE = "login/passkey.html"


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
    """Sign in with a passkey instead of the password: only before any factor is proven."""
    ix = load(uid)
    if isinstance(ix, Response):
        return ix
    if ix.amr:
        return go_on(ix, user_of(ix))
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
    advance(ix, user, AMR_PASSKEY)
    return go_on(ix, user)


def _passkey_extra(ix: Interaction) -> dict[str, Any]:
    db = get_session()
    options = key_assertions.passkey_options(
        db, g.idp_realm, binding=security_keys.interaction_binding(ix.id)
    )
    db.commit()
    return {"user": user_of(ix), "options": options, "available": True}
