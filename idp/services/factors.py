"""Second-factor flows. Each flow owns its side effects (factor rows, backup codes, audit
event, session ends) in one function, in the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from .. import assurance
from ..models import Authenticator, BackupCode, Realm, User
from . import (
    backup_codes,
    key_assertions,
    notifications,
    password_reset,
    security_keys,
    throttle,
    totp,
)
from .audit import record_event
from .context import cipher
from .errors import InvalidCode, NotFound
from .sessions import (
    AdminReason,
    end_user_sessions,
    end_user_sign_ins,
    revoke_user_tokens,
    sign_out_by_admin,
)
from .trusted_browsers import void_trusts

#: The kinds of authenticator that are a second factor (backup codes are a fallback).
FACTOR_TYPES = ("totp", security_keys.TYPE)


@dataclass
class TwoFactorStatus:
    enabled: bool
    enrolled_at: datetime | None
    unused_backup_codes: int
    #: Active security keys and passkeys (issue 10).
    security_keys: int = 0


def active_totp(db: Session, user: User) -> Authenticator | None:
    return db.scalar(
        select(Authenticator).where(
            Authenticator.user_id == user.id,
            Authenticator.type == "totp",
            Authenticator.status == "active",
        )
    )


def has_second_factor(db: Session, user: User) -> bool:
    """An authenticator app or a security key (issue 10: having a key turns 2FA on)."""
    return (
        db.scalar(
            select(Authenticator.id)
            .where(
                Authenticator.user_id == user.id,
                Authenticator.type.in_(FACTOR_TYPES),
                Authenticator.status == "active",
            )
            .limit(1)
        )
        is not None
    )


def two_factor_status(db: Session, user: User) -> TwoFactorStatus:
    return two_factor_statuses(db, [user])[user.id]


def two_factor_statuses(db: Session, users: list[User]) -> dict[int, TwoFactorStatus]:
    """``two_factor_status`` for a page of users in three queries (the admin list)."""
    ids = [u.id for u in users]
    if not ids:
        return {}
    enrolled = dict(
        db.execute(
            select(Authenticator.user_id, func.min(Authenticator.created_at))
            .where(
                Authenticator.user_id.in_(ids),
                Authenticator.type.in_(FACTOR_TYPES),
                Authenticator.status == "active",
            )
            .group_by(Authenticator.user_id)
        ).all()
    )
    keys = security_keys.count_keys(db, ids)
    unused = dict(
        db.execute(
            select(BackupCode.user_id, func.count(BackupCode.id))
            .where(BackupCode.user_id.in_(ids), BackupCode.used_at.is_(None))
            .group_by(BackupCode.user_id)
        ).all()
    )
    return {
        uid: TwoFactorStatus(
            enabled=uid in enrolled,
            enrolled_at=enrolled.get(uid),
            unused_backup_codes=unused.get(uid, 0) if uid in enrolled else 0,
            security_keys=keys.get(uid, 0),
        )
        for uid in ids
    }


def pending_totp(db: Session, user: User) -> Authenticator | None:
    return db.scalar(
        select(Authenticator).where(
            Authenticator.user_id == user.id,
            Authenticator.type == "totp",
            Authenticator.status == "pending",
        )
    )


def start_totp_enrolment(db: Session, user: User) -> Authenticator:
    """Create (or replace) the pending key. Nothing changes for sign-in until it is verified
    (SPEC E4)."""
    db.execute(
        delete(Authenticator).where(
            Authenticator.user_id == user.id,
            Authenticator.type == "totp",
            Authenticator.status == "pending",
        )
    )
    row = Authenticator(
        realm_id=user.realm_id,
        user_id=user.id,
        type="totp",
        status="pending",
        secret_encrypted=cipher().encrypt(totp.new_totp_secret()),
    )
    db.add(row)
    db.flush()
    return row


def pending_secret(db: Session, user: User) -> str | None:
    row = pending_totp(db, user)
    return cipher().decrypt(row.secret_encrypted) if row and row.secret_encrypted else None


def enable_totp(
    db: Session,
    user: User,
    raw_code: object,
    *,
    actor: str,
    client_address: str | None,
    keep_sid: str | None,
) -> list[str]:
    """Verify the pending key with a code; on success it replaces any earlier key, every
    earlier backup code is invalidated and a new set is issued (SPEC E4, E5, E7, B4).
    Every SSO session of the user but ``keep_sid`` (the browser that enabled it) ends and
    its tokens are revoked: a session that signed in with the password alone (or with the
    replaced key) would otherwise keep getting tokens. Returns the plain backup codes."""
    pending = pending_totp(db, user)
    if pending is None:
        raise NotFound("no enrolment in progress")
    totp.verify_totp(db, pending, raw_code)
    replaced = active_totp(db, user) is not None
    # Backup codes exist only while 2FA is on: the first factor brings the first set.
    earlier_codes = has_second_factor(db, user)
    db.execute(
        delete(Authenticator).where(
            Authenticator.user_id == user.id,
            Authenticator.type == "totp",
            Authenticator.status == "active",
        )
    )
    pending.status = "active"
    # The trusts were bound to the replaced key (the cascade drops them too); say so here.
    void_trusts(db, user)
    codes = backup_codes.issue_backup_codes(db, user)
    # Every other sign-in ends too, even one that proved the replaced key or an old backup
    # code (SPEC V1); the sign-in enrolling, if any, re-records the new generation itself.
    end_user_sessions(db, user, except_sid=keep_sid)
    revoke_user_tokens(db, user, except_sid=keep_sid)
    record_event(
        db,
        user.realm_id,
        "mfa.totp.enabled",
        actor=actor,
        subject=user,
        client_address=client_address,
        detail={"replaced": replaced},
    )
    record_event(
        db,
        user.realm_id,
        "mfa.backup_codes.issued",
        actor=actor,
        subject=user,
        client_address=client_address,
    )
    # SPEC P7: one message; the backup codes that come with the key are part of it.
    notifications.two_factor_enabled(
        db, user, replaced=replaced, earlier_codes=earlier_codes, client_address=client_address
    )
    return codes


def regenerate_backup_codes(
    db: Session, user: User, *, actor: str, client_address: str | None
) -> list[str]:
    if not has_second_factor(db, user):
        raise NotFound("two-factor authentication is not enabled")
    codes = backup_codes.issue_backup_codes(db, user)
    void_trusts(db, user)  # a 2FA change ends every "trust this browser" (SPEC P8)
    record_event(
        db,
        user.realm_id,
        "mfa.backup_codes.issued",
        actor=actor,
        subject=user,
        client_address=client_address,
    )
    notifications.backup_codes_issued(db, user, client_address=client_address)  # SPEC P7
    return codes


def remove_second_factors(
    db: Session,
    user: User,
    *,
    event_type: str,
    actor: str,
    client_address: str | None,
    end_sessions: bool,
) -> bool:
    """Remove every second factor, backup code and trusted browser of the user (user
    disable, admin reset and operator reset share this). Returns whether 2FA had been
    enabled."""
    had = has_second_factor(db, user)
    void_trusts(db, user)  # SPEC P8: explicit, not left to the foreign key's cascade
    db.execute(delete(Authenticator).where(Authenticator.user_id == user.id))
    throttle.reset(db, throttle.second_factor_key(user.id))
    if end_sessions:
        sign_out_by_admin(
            db,
            user,
            reason=AdminReason.SECOND_FACTORS_RESET,
            actor=actor,
            client_address=client_address,
        )
    else:
        end_user_sign_ins(db, user)  # SPEC V1: the user's own disable keeps the sessions
    record_event(
        db,
        user.realm_id,
        event_type,
        actor=actor,
        subject=user,
        client_address=client_address,
        detail={"was_enabled": had},
    )
    return had


def disable_two_factor(db: Session, user: User, *, client_address: str | None) -> bool:
    """The user's own Disable (SPEC D1, D2); the user is told by mail (P7)."""
    had = remove_second_factors(
        db,
        user,
        event_type="mfa.disabled",
        actor=f"user:{user.email}",
        client_address=client_address,
        end_sessions=False,
    )
    if had:
        notifications.two_factor_disabled(db, user, client_address=client_address)
    return had


def reset_second_factors(
    db: Session, user: User, *, actor: str, client_address: str | None
) -> bool:
    """An admin's or the operator's reset (SPEC A2, A3): also ends the user's SSO sessions
    and revokes their tokens. The user is told by mail (P7)."""
    had = remove_second_factors(
        db,
        user,
        event_type="admin.mfa.reset",
        actor=actor,
        client_address=client_address,
        end_sessions=True,
    )
    if had:
        notifications.two_factor_reset(db, user, actor=actor, client_address=client_address)
    return had


def verify_second_factor(
    db: Session,
    realm: Realm,
    user: User,
    raw_code: object,
    *,
    kind: str,
    client_address: str | None,
    binding: str | None = None,
    locale: str | None = None,
) -> list[str]:
    """Check a sign-in code (``kind`` ``totp`` or ``backup_code``) or a security key's
    response (``webauthn``, its challenge issued for ``binding``) under the shared
    per-account throttle (SPEC L6, issue 10), auditing failures and backup-code use (A4).
    Returns the ``amr`` values the check proved (RFC 8176). A used backup code is mailed to
    the user (P7) in ``locale``, the sign-in's language.

    Raises TooManyAttempts, InvalidCode (or CodeReplayed, or a SecurityKeyRefused). The
    caller must commit in both the success and the failure case so the counter and the
    audit event persist.
    """
    key = throttle.guard_second_factor(
        db, realm.id, user, stage="second_factor", client_address=client_address
    )
    amr: list[str]
    try:
        if kind == "totp":
            auth = active_totp(db, user)
            if auth is None:
                raise InvalidCode("no authenticator")
            totp.verify_totp(db, auth, raw_code)
            amr = list(assurance.BY_TOTP)
        elif kind == "webauthn":
            verified_user = key_assertions.verify_assertion(
                db, realm, user, raw_code, binding=binding or "", client_address=client_address
            )
            amr = list(assurance.by_security_key(verified_user))
        elif kind == "backup_code":
            if not has_second_factor(db, user):
                raise InvalidCode("no authenticator")
            backup_codes.consume_backup_code(db, user, raw_code)
            amr = list(assurance.BY_BACKUP_CODE)
        else:
            raise ValueError(kind)
    except InvalidCode as exc:
        failures = throttle.record_failure(db, key, throttle.SECOND_FACTOR)
        record_event(
            db,
            realm.id,
            "login.second_factor.failed",
            actor=f"user:{user.email}",
            subject=user,
            client_address=client_address,
            outcome="failure",
            detail={"method": kind, "reason": type(exc).__name__, "failures_in_row": failures},
        )
        if failures == throttle.SECOND_FACTOR.free:  # the wait starts now: tell the user
            password_reset.notify_lockout(
                db,
                realm,
                user,
                client_address=client_address,
                retry_after=int(throttle.SECOND_FACTOR.base_seconds),
                locale=locale,
            )
        raise
    throttle.reset(db, key)
    if kind == "backup_code":
        left = backup_codes.count_unused(db, user.id)
        record_event(
            db,
            realm.id,
            "mfa.backup_code.used",
            actor=f"user:{user.email}",
            subject=user,
            client_address=client_address,
            detail={"unused_left": left},
        )
        notifications.backup_code_used(
            db, user, remaining=left, client_address=client_address, locale=locale
        )
    return amr
