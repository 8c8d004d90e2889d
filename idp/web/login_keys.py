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

from werkzeug.wrappers import Response

from .login_bp import bp
from .login_walk import run_stage


@bp.route("/security-key", methods=["GET", "POST"], endpoint="webauthn")
def security_key(realm: str, uid: str) -> Response:
    return run_stage(uid, "login.webauthn")


# -- a passkey alone -----------------------------------------------------------------------------
@bp.route("/passkey", methods=["GET", "POST"])
def passkey(realm: str, uid: str) -> Response:
    """Sign in with a passkey instead of the password (``interaction/passkey.py``)."""
    return run_stage(uid, "login.passkey")


# -- a security key at enrolment inside the sign-in (SPEC P1-P3, issue 10) ----------------------
@bp.post("/enrol/security-key", endpoint="enrol_key")
def enrol_key(realm: str, uid: str) -> Response:
    """A user a policy covers adds a security key instead of the authenticator app: the key
    turns 2FA on, the backup codes are shown, and ``amr`` gains what creating it proved."""
    return run_stage(uid, "login.enrol_key")
