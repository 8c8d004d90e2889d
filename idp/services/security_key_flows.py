"""Adding and removing a security key (issue 10), each flow with its side effects in one
function, in the caller's transaction, as ``factors`` does for the authenticator app.

Having a key turns 2FA on: the first key (the user had no second factor) issues the backup
codes and ends the user's other sessions, as the first authenticator app does (SPEC E5,
E7, B4). Removing the last factor is the same as Disable (SPEC D2); where a policy
requires 2FA the web layer refuses it first (SPEC P5).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from ..models import Authenticator, Realm, User
from . import backup_codes, factors, notifications, security_keys
from .audit import record_event
from .sessions import end_user_sessions, revoke_user_tokens


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
    """Verify a registration response and save the key under the user's name for it.
    Raises InvalidInput (the name) or SecurityKeyRefused."""
    name = security_keys.clean_name(raw_name)
    first = not factors.has_second_factor(db, user)
    new = security_keys.verify_registration(db, realm, user, raw_response, binding=binding)
    key = security_keys.save_key(db, user, new, name)
    actor = f"user:{user.email}"
    record_event(
        db,
        user.realm_id,
        "mfa.webauthn.added",
        actor=actor,
        subject=user,
        client_address=client_address,
        detail={"key_name": name, "first_factor": first},
    )
    codes = None
    if first:
        codes = backup_codes.issue_backup_codes(db, user)
        # Every other sign-in ends (SPEC V1); the sign-in enrolling, if any, re-records the
        # new generation itself.
        end_user_sessions(db, user, except_sid=keep_sid)
        revoke_user_tokens(db, user, except_sid=keep_sid)
        record_event(
            db,
            user.realm_id,
            "mfa.backup_codes.issued",
            actor=actor,
            subject=user,
            client_address=client_address,
        )
        notifications.two_factor_enabled(
            db, user, replaced=False, earlier_codes=False, client_address=client_address
        )  # SPEC P7: the key turned 2FA on, with the first backup codes
    return AddedKey(key, codes, ["hwk", "mfa", *(["user"] if new.user_verified else [])])


def is_last_factor(db: Session, user: User, key: Authenticator) -> bool:
    """Whether removing ``key`` leaves the user without a second factor."""
    others = [k for k in security_keys.list_keys(db, user) if k.id != key.id]
    return not others and factors.active_totp(db, user) is None


def remove_security_key(
    db: Session, user: User, key: Authenticator, *, client_address: str | None
) -> bool:
    """Remove one key; the last factor goes the way of Disable (SPEC D2: the backup codes
    and trusted browsers with it). Returns whether 2FA is now off."""
    last = is_last_factor(db, user, key)
    record_event(
        db,
        user.realm_id,
        "mfa.webauthn.removed",
        actor=f"user:{user.email}",
        subject=user,
        client_address=client_address,
        detail={"key_name": key.name, "last_factor": last},
    )
    if last:
        factors.disable_two_factor(db, user, client_address=client_address)
        return True
    db.delete(key)
    db.flush()
    return False
