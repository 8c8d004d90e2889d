"""Security keys and passkeys (W3C WebAuthn Level 2, issue 10) as a registered second
factor. The relying party, challenges and registration are ``services/security_keys.py``,
the sign-in assertions ``services/key_assertions.py``; this module adapts them to
``SecondFactor`` and keeps the account flows: adding a key (the first one turns 2FA on,
``enable_factor``) and removing one (the last goes the way of Disable, SPEC D2)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from ... import assurance
from ...models import Authenticator, Realm, User
from .. import key_assertions, security_keys
from ..audit import record_event
from .base import AuditLabels, Enrolment, SecondFactor, audit_event
from .frames import enable_factor
from .removal import disable_two_factor
from .status import has_other_factor


class SecurityKeys(SecondFactor):
    kind = security_keys.TYPE
    row_type = security_keys.TYPE
    amr = assurance.by_security_key(False)
    labels = AuditLabels(
        method=security_keys.TYPE,
        enabled=audit_event(event_type="mfa.webauthn.added"),
        removed=audit_event(event_type="mfa.webauthn.removed"),
    )

    def is_set_up(self, db: Session, user: User) -> bool:
        return bool(
            db.scalar(
                select(
                    exists().where(
                        Authenticator.user_id == user.id,
                        Authenticator.type == security_keys.TYPE,
                        Authenticator.status == "active",
                    )
                )
            )
        )

    def challenge(self, db: Session, realm: Realm, user: User, *, binding: str) -> str | None:
        return key_assertions.authentication_options(db, realm, user, binding=binding)

    def verify(
        self,
        db: Session,
        realm: Realm,
        user: User,
        response: object,
        *,
        binding: str,
        client_address: str | None,
    ) -> tuple[str, ...]:
        user_verified = key_assertions.verify_assertion(
            db, realm, user, response, binding=binding, client_address=client_address
        )
        return assurance.by_security_key(user_verified)

    def enrol(
        self,
        db: Session,
        realm: Realm,
        user: User,
        response: object,
        *,
        binding: str,
        name: object,
    ) -> Enrolment:
        """Verify a registration response and save the key under the user's name for it.
        Adds to the user's keys: no new generation."""
        clean = security_keys.clean_name(name)
        new = security_keys.verify_registration(db, realm, user, response, binding=binding)
        key = security_keys.save_key(db, user, new, clean)
        return Enrolment(
            row=key,
            amr=assurance.by_security_key(new.user_verified),
            detail={"key_name": clean},
        )


SECURITY_KEYS = SecurityKeys()


@dataclass
class AddedKey:
    key: Authenticator
    #: The plain backup codes when this key turned 2FA on, else None.
    codes: list[str] | None
    #: What creating the key proved (RFC 8176), for a key added inside the sign-in:
    #: ``hwk`` and ``mfa``, and ``user`` when the key verified the user.
    amr: list[str]


def add_security_key(
    db: Session,
    realm: Realm,
    user: User,
    raw_response: object,
    raw_name: object,
    *,
    binding: str,
    client_address: str | None,
    keep_sid: str | None,
) -> AddedKey:
    """Add a key (``enable_factor``: the first one turns 2FA on with the first backup codes,
    SPEC E5, E7, B4). Raises InvalidInput (the name) or SecurityKeyRefused."""
    enabled = enable_factor(
        db,
        realm,
        user,
        SECURITY_KEYS,
        raw_response,
        binding=binding,
        name=raw_name,
        actor=f"user:{user.email}",
        client_address=client_address,
        keep_sid=keep_sid,
    )
    return AddedKey(enabled.row, enabled.codes, list(enabled.amr))


def is_last_factor(db: Session, user: User, key: Authenticator) -> bool:
    """Whether removing ``key`` leaves the user without a second factor."""
    return not has_other_factor(db, user, key)


def remove_security_key(
    db: Session, user: User, key: Authenticator, *, client_address: str | None
) -> bool:
    """Remove one key; the last factor goes the way of Disable (SPEC D2: the backup codes
    and trusted browsers with it). Returns whether 2FA is now off."""
    last = is_last_factor(db, user, key)
    event_type = SECURITY_KEYS.labels.removed
    assert event_type is not None
    record_event(
        db,
        user.realm_id,
        event_type,
        actor=f"user:{user.email}",
        subject=user,
        client_address=client_address,
        detail={"key_name": key.name, "last_factor": last},
    )
    if last:
        disable_two_factor(db, user, client_address=client_address)
        return True
    SECURITY_KEYS.remove(db, user, key)
    return False
