"""The security-key pages of the hosted sign-in (issue 10), on the ``login`` blueprint: a user
with a key is offered it first after the password, with the authenticator app and a backup
code as alternatives; "Sign in with a passkey" on the password page signs in with a
discoverable credential alone (``key_assertions.verify_passkey``) where the realm allows it;
a user a policy requires 2FA of may enrol a key instead of the authenticator app. The pages
carry the WebAuthn request options (a challenge bound to this interaction, W3C WebAuthn SS 7.2);
``static/webauthn.js`` asks the browser for the assertion and posts it back. Failed
assertions count in the second-factor throttle (SPEC L6); ``amr`` gains ``hwk`` and ``mfa``
(and ``user`` when the key verified the user)."""

from __future__ import annotations

from typing import Any

from flask import Response, g, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from .. import assurance
from ..db import get_session
from ..i18n import current_locale
from ..interaction import flow
from ..models import Interaction, User
from ..services import factors, key_assertions, security_key_flows, security_keys, users
from ..services.errors import InvalidCode, InvalidInput, TooManyAttempts
from .account_keys import ALREADY_ADDED, NOT_ADDED
from .common import client_address, single
from .login import advance, bp, go_on, load, stage_page, user_of
from .login_codes import codes_page, enrol_page
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
        return throttled_page(
            TEMPLATE, ix, exc, form_id="key-form", second_factor=True, **_context(ix, user)
        )
    except InvalidCode:
        db.commit()
        return render_page(TEMPLATE, ix, status=401, error=KEY_REFUSED, **_context(ix, user))
    advance(ix, user, amr)
    return go_on(ix, user)


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
    advance(ix, user, list(assurance.BY_PASSKEY))
    return go_on(ix, user)


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
    found = stage_page(uid, "login.enrol")
    if isinstance(found, Response):
        return found
    ix, user = found
    if not security_keys.available():
        return go_on(ix, user)
    db = get_session()
    name = single("name") or ""
    # Mail about 2FA turning on is in the sign-in's language.
    users.record_locale(user, current_locale())
    try:
        added = security_key_flows.add_security_key(
            db,
            g.idp_realm,
            user,
            single("credential"),
            name,
            binding=security_keys.interaction_binding(ix.id),
            client_address=client_address(),
            keep_sid=ix.from_sid,
        )
    except InvalidInput as exc:
        db.rollback()
        return enrol_page(ix, user, status=400, error=_(str(exc)), key_name=name, key_error=True)
    except security_keys.SecurityKeyRefused as exc:
        db.commit()  # the challenge stays spent
        already = isinstance(exc, security_keys.KeyAlreadyRegistered)
        return enrol_page(
            ix,
            user,
            status=400,
            error=ALREADY_ADDED if already else NOT_ADDED,
            key_name=name,
            key_error=True,
        )
    flow.keep_after_own_change(ix, user)  # the other sign-ins ended; this one goes on
    if added.codes is None:  # a factor appeared meanwhile (another tab): nothing to show
        advance(ix, user, added.amr)
        return go_on(ix, user)
    flow.set_progress(ix, codes_pending=True, codes_issued=True)
    advance(ix, user, added.amr)
    return codes_page(ix, user, added.codes, enabled_now=True)
