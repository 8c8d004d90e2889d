"""Security keys and passkeys as a second factor (W3C Web Authentication Level 2, issue 10).

py_webauthn builds the options and verifies the responses (no CBOR or COSE here). One relying
party per deployment: the RP ID is the host of ``IDP_BASE_URL`` and the expected origin its
origin (WebAuthn SS 5.1.4.1, 13.4.9); attestation ``none``; user verification
``preferred`` for a second factor.

Challenges (SS 13.4.3) are random, single use (spent by one conditional DELETE, so two
submissions of one response at once succeed once), bound to what asked for them (the
sign-in's interaction or the account page's session) and to a purpose, and expire after
``CHALLENGE_TTL`` seconds. The signature counter is checked (SS 6.1.1, 7.2 step 21): a counter
that does not grow is refused and audited as a possible cloned key (``key_assertions``,
which verifies the sign-in responses).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from webauthn import (
    generate_registration_options,
    options_to_json,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    parse_client_data_json,
    parse_registration_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from ..db import claim_once, utcnow
from ..models import Authenticator, Realm, User, WebAuthnChallenge
from .context import settings
from .crypto import digest, random_token
from .errors import N_, InvalidCode, InvalidInput

TYPE = "webauthn"
#: Seconds a challenge stays valid (the page asks again after that).
CHALLENGE_TTL = 180
#: What the browser is told to wait for the user, in milliseconds (a hint).
TIMEOUT_MS = 120_000
NAME_MAX = 64
#: A credential response larger than this is refused unread.
RESPONSE_MAX = 64 * 1024

REGISTER = "register"
AUTHENTICATE = "authenticate"
#: A passkey sign-in: nobody is known yet, so the challenge has no user.
PASSKEY = "passkey"


class SecurityKeyRefused(InvalidCode):
    """The browser's response did not verify (signature, origin, RP ID, type, format)."""


class ChallengeNotValid(SecurityKeyRefused):
    """Unknown, used, expired, or issued to another sign-in, page or purpose."""


class UnknownCredential(SecurityKeyRefused):
    """Not one of this user's keys in this realm."""


class SignCountRegressed(SecurityKeyRefused):
    """The signature counter did not grow: possibly a cloned key (SS 6.1.1)."""


class KeyAlreadyRegistered(SecurityKeyRefused):
    """The credential is registered already (in this realm)."""


# -- relying party ---------------------------------------------------------------------------
def rp_id() -> str:
    return urlsplit(settings().base_url).hostname or ""


def expected_origin() -> str:
    parts = urlsplit(settings().base_url)
    return f"{parts.scheme}://{parts.netloc}"


def available() -> bool:
    """Whether browsers will run WebAuthn for this deployment: not on an IP-address host
    (browsers refuse it: "This is an invalid domain"), nor on plain http but for localhost
    (a secure context is required, SS 5)."""
    host = rp_id()
    if not host:
        return False
    try:
        ipaddress.ip_address(host)
        return False
    except ValueError:
        pass
    parts = urlsplit(settings().base_url)
    return parts.scheme == "https" or host == "localhost" or host.endswith(".localhost")


# -- keys ------------------------------------------------------------------------------------
def list_keys(db: Session, user: User) -> list[Authenticator]:
    return list(
        db.scalars(
            select(Authenticator)
            .where(
                Authenticator.user_id == user.id,
                Authenticator.type == TYPE,
                Authenticator.status == "active",
            )
            .order_by(Authenticator.created_at, Authenticator.id)
        )
    )


def count_keys(db: Session, user_ids: list[int]) -> dict[int, int]:
    if not user_ids:
        return {}
    rows = db.execute(
        select(Authenticator.user_id, func.count(Authenticator.id))
        .where(
            Authenticator.user_id.in_(user_ids),
            Authenticator.type == TYPE,
            Authenticator.status == "active",
        )
        .group_by(Authenticator.user_id)
    ).all()
    return {uid: n for uid, n in rows}


def find_key(db: Session, user: User, key_id: int) -> Authenticator | None:
    return db.scalar(
        select(Authenticator).where(
            Authenticator.id == key_id,
            Authenticator.user_id == user.id,
            Authenticator.type == TYPE,
            Authenticator.status == "active",
        )
    )


def clean_name(raw: object) -> str:
    name = " ".join(raw.split()) if isinstance(raw, str) else ""
    if not name or len(name) > NAME_MAX:
        raise InvalidInput(N_("Give the key a name of 1 to 64 characters."))
    return name


def rename_key(db: Session, key: Authenticator, raw_name: object) -> None:
    key.name = clean_name(raw_name)


# -- challenges ------------------------------------------------------------------------------
def _binding(kind: str, value: str) -> str:
    return digest(f"{kind}:{value}")


def interaction_binding(interaction_id: int) -> str:
    return _binding("interaction", str(interaction_id))


def session_binding(sid: str) -> str:
    return _binding("sso", sid)


def new_challenge(
    db: Session, realm_id: int, user_id: int | None, purpose: str, binding: str
) -> bytes:
    """A fresh challenge; it replaces any earlier one of the same binding and purpose (only
    the page shown last can use one)."""
    db.execute(
        delete(WebAuthnChallenge).where(
            WebAuthnChallenge.binding_digest == binding, WebAuthnChallenge.purpose == purpose
        )
    )
    raw = random_token(32)
    now = utcnow()
    db.add(
        WebAuthnChallenge(
            realm_id=realm_id,
            user_id=user_id,
            purpose=purpose,
            binding_digest=binding,
            challenge_digest=digest(raw),
            created_at=now,
            expires_at=now + timedelta(seconds=CHALLENGE_TTL),
        )
    )
    db.flush()
    return raw.encode("ascii")


def spend_challenge(
    db: Session,
    realm_id: int,
    user_id: int | None,
    purpose: str,
    binding: str,
    client_data: bytes,
) -> bytes:
    """Spend the challenge the signed client data carries, once; return it for the
    verification. Raises ChallengeNotValid."""
    try:
        challenge = parse_client_data_json(client_data).challenge
    except Exception as exc:  # any malformed client data is a refusal
        raise SecurityKeyRefused("malformed client data") from exc
    try:
        text = challenge.decode("ascii")
    except UnicodeDecodeError as exc:
        raise ChallengeNotValid() from exc
    if not claim_once(
        db,
        delete(WebAuthnChallenge).where(
            WebAuthnChallenge.challenge_digest == digest(text),
            WebAuthnChallenge.realm_id == realm_id,
            WebAuthnChallenge.user_id.is_(None)
            if user_id is None
            else WebAuthnChallenge.user_id == user_id,
            WebAuthnChallenge.purpose == purpose,
            WebAuthnChallenge.binding_digest == binding,
            WebAuthnChallenge.expires_at > utcnow(),
        ),
    ):  # a claim-once DELETE: of two racing spends, one wins
        raise ChallengeNotValid()
    return challenge


def descriptors(keys: list[Authenticator]) -> list[PublicKeyCredentialDescriptor]:
    out = []
    for key in keys:
        transports = []
        for value in key.transports or []:
            try:
                transports.append(AuthenticatorTransport(value))
            except ValueError:
                continue
        out.append(
            PublicKeyCredentialDescriptor(
                id=base64url_to_bytes(key.credential_id or ""), transports=transports or None
            )
        )
    return out


def checked_json(raw: object) -> str:
    if not isinstance(raw, str) or not raw or len(raw) > RESPONSE_MAX:
        raise SecurityKeyRefused("no response")
    return raw


# -- registration (SS 7.1) -------------------------------------------------------------------
def registration_options(db: Session, realm: Realm, user: User, *, binding: str) -> str:
    """The options for ``navigator.credentials.create`` as JSON, with a new challenge."""
    challenge = new_challenge(db, realm.id, user.id, REGISTER, binding)
    options = generate_registration_options(
        rp_id=rp_id(),
        rp_name=realm.display_name or realm.name,
        user_name=user.email,
        user_id=user.sub.encode(),
        user_display_name=user.display_name or user.email,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=descriptors(list_keys(db, user)),
    )
    return options_to_json(options)


@dataclass(frozen=True)
class NewKey:
    credential_id: str
    public_key: str
    sign_count: int
    transports: list[str]
    #: The key verified the user (PIN or biometric) when it was created (the UV flag).
    user_verified: bool = False


def verify_registration(
    db: Session, realm: Realm, user: User, raw_response: object, *, binding: str
) -> NewKey:
    """Verify the response of ``navigator.credentials.create`` against a challenge issued
    for ``binding``. Raises SecurityKeyRefused (or a subclass)."""
    text = checked_json(raw_response)
    try:
        credential = parse_registration_credential_json(text)
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        raise SecurityKeyRefused("malformed response") from exc
    challenge = spend_challenge(
        db, realm.id, user.id, REGISTER, binding, credential.response.client_data_json
    )
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id(),
            expected_origin=expected_origin(),
            require_user_verification=False,
        )
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        raise SecurityKeyRefused(str(exc)) from exc
    credential_id = bytes_to_base64url(verified.credential_id)
    taken = db.scalar(
        select(Authenticator.id).where(
            Authenticator.realm_id == realm.id, Authenticator.credential_id == credential_id
        )
    )
    if taken is not None:
        raise KeyAlreadyRegistered()
    transports = [t.value for t in (credential.response.transports or [])][:8]
    return NewKey(
        credential_id=credential_id,
        public_key=bytes_to_base64url(verified.credential_public_key),
        sign_count=verified.sign_count,
        transports=transports,
        user_verified=bool(verified.user_verified),
    )


def save_key(db: Session, user: User, new: NewKey, name: str) -> Authenticator:
    row = Authenticator(
        realm_id=user.realm_id,
        user_id=user.id,
        type=TYPE,
        status="active",
        credential_id=new.credential_id,
        public_key=new.public_key,
        sign_count=new.sign_count,
        name=name,
        transports=new.transports,
    )
    db.add(row)
    db.flush()
    return row
