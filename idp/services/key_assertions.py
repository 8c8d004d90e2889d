"""Signing in with a security key or passkey (W3C WebAuthn Level 2 SS 7.2, issue 10): the
request options and the verification of ``navigator.credentials.get``'s response with
py_webauthn, the signature-counter rule, and passkey sign-in without a password.

As a second factor the key must be one of the user's (``allowCredentials``), user
verification is preferred, and ``amr`` gains ``hwk`` (plus ``user`` when the key verified
the user). A passkey alone (a discoverable credential, SS 6.2.2) must verify the user and
return the user handle it was created with (the user's ``sub``): possession plus the
device's PIN or biometric are two factors, ``amr ["hwk", "user", "mfa"]``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from webauthn import (
    generate_authentication_options,
    options_to_json,
    verify_authentication_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    parse_authentication_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import AuthenticationCredential, UserVerificationRequirement

from ..db import utcnow
from ..models import Authenticator, Realm, User
from .audit import record_event
from .factors.frames import throttled_attempt
from .security_keys import (
    AUTHENTICATE,
    PASSKEY,
    TIMEOUT_MS,
    TYPE,
    SecurityKeyRefused,
    SignCountRegressed,
    UnknownCredential,
    checked_json,
    descriptors,
    expected_origin,
    list_keys,
    new_challenge,
    rp_id,
    spend_challenge,
)


def _parse(raw_response: object) -> AuthenticationCredential:
    text = checked_json(raw_response)
    try:
        return parse_authentication_credential_json(text)
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        raise SecurityKeyRefused("malformed response") from exc


def _find_key(db: Session, realm: Realm, credential: AuthenticationCredential) -> Any:
    return db.scalar(
        select(Authenticator).where(
            Authenticator.realm_id == realm.id,
            Authenticator.type == TYPE,
            Authenticator.status == "active",
            Authenticator.credential_id == bytes_to_base64url(credential.raw_id),
        )
    )


def _check(
    db: Session,
    realm: Realm,
    user: User,
    key: Authenticator,
    credential: AuthenticationCredential,
    challenge: bytes,
    *,
    client_address: str | None,
    require_user_verification: bool,
) -> bool:
    """Verify the signature, origin, RP ID and flags with py_webauthn, then the counter
    (SS 6.1.1): a counter that does not grow is audited as a possible clone and refused.
    Records the new counter and the key's last use; returns the UV flag."""
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id(),
            expected_origin=expected_origin(),
            credential_public_key=base64url_to_bytes(key.public_key or ""),
            # The counter rule is applied below, so that a regression can be told apart.
            credential_current_sign_count=0,
            require_user_verification=require_user_verification,
        )
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        raise SecurityKeyRefused(str(exc)) from exc
    stored = key.sign_count or 0
    new = verified.new_sign_count
    if (new > 0 or stored > 0) and new <= stored:
        record_event(
            db,
            realm.id,
            "mfa.webauthn.counter_regressed",
            actor=f"user:{user.email}",
            subject=user,
            client_address=client_address,
            outcome="failure",
            detail={"key_name": key.name, "stored_count": stored, "received_count": new},
        )
        raise SignCountRegressed()
    key.sign_count = new
    key.last_used_at = utcnow()
    return bool(verified.user_verified)


# -- a key as the second factor ------------------------------------------------------------------
def authentication_options(db: Session, realm: Realm, user: User, *, binding: str) -> str:
    """The options for ``navigator.credentials.get`` for ``user``'s keys, as JSON."""
    challenge = new_challenge(db, realm.id, user.id, AUTHENTICATE, binding)
    options = generate_authentication_options(
        rp_id=rp_id(),
        challenge=challenge,
        timeout=TIMEOUT_MS,
        allow_credentials=descriptors(list_keys(db, user)),
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    return options_to_json(options)


def verify_assertion(
    db: Session,
    realm: Realm,
    user: User,
    raw_response: object,
    *,
    binding: str,
    client_address: str | None,
) -> bool:
    """Verify the response of ``navigator.credentials.get`` as ``user``'s second factor;
    return whether the authenticator verified the user (PIN or biometric, flag UV). Raises
    SecurityKeyRefused (or a subclass)."""
    credential = _parse(raw_response)
    challenge = spend_challenge(
        db, realm.id, user.id, AUTHENTICATE, binding, credential.response.client_data_json
    )
    key = _find_key(db, realm, credential)
    if key is None or key.user_id != user.id:
        raise UnknownCredential()
    return _check(
        db,
        realm,
        user,
        key,
        credential,
        challenge,
        client_address=client_address,
        require_user_verification=False,
    )


# -- a passkey alone -----------------------------------------------------------------------------
def passkey_options(db: Session, realm: Realm, *, binding: str) -> str:
    """Options for a discoverable credential (no ``allowCredentials``: the browser offers
    the passkeys it holds for this RP ID), user verification required."""
    challenge = new_challenge(db, realm.id, None, PASSKEY, binding)
    options = generate_authentication_options(
        rp_id=rp_id(),
        challenge=challenge,
        timeout=TIMEOUT_MS,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return options_to_json(options)


def verify_passkey(
    db: Session,
    realm: Realm,
    raw_response: object,
    *,
    binding: str,
    client_address: str | None,
    expected_user: User | None = None,
) -> User:
    """Sign in with a passkey: the key's user, who must be ``expected_user`` when the
    sign-in already names one (a re-authentication). Failures for a known key count in its
    user's second-factor throttle (SPEC L6). Raises SecurityKeyRefused (or a subclass) or
    TooManyAttempts; the caller commits either way."""
    credential = _parse(raw_response)
    challenge = spend_challenge(
        db, realm.id, None, PASSKEY, binding, credential.response.client_data_json
    )
    key = _find_key(db, realm, credential)
    user = db.get(User, key.user_id) if key is not None else None
    if key is None or user is None or user.disabled:
        raise UnknownCredential()
    if expected_user is not None and user.id != expected_user.id:
        raise UnknownCredential()
    handle = credential.response.user_handle
    if handle is None or bytes(handle) != user.sub.encode():
        raise UnknownCredential()  # SS 7.2 step 6: the user handle names the key's owner
    with throttled_attempt(
        db,
        realm,
        user,
        method="passkey",
        stage="passkey",
        client_address=client_address,
        tell_lockout=False,
    ):
        _check(
            db,
            realm,
            user,
            key,
            credential,
            challenge,
            client_address=client_address,
            require_user_verification=True,
        )
    return user
