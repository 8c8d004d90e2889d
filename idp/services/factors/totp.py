"""The authenticator app (TOTP, RFC 6238) as a registered second factor: the codes and their
replay rule are ``services/totp.py``; this module keeps the key's rows (pending while the
user enrols, SPEC E4; active after) and adapts them to ``SecondFactor``."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ... import assurance
from ...models import Authenticator, Realm, User
from .. import totp as codes
from ..context import cipher
from ..errors import InvalidCode, NotFound
from .base import AuditLabels, Enrolment, SecondFactor, audit_event
from .frames import enable_factor

TYPE = "totp"


def active_totp(db: Session, user: User) -> Authenticator | None:
    return _totp(db, user, "active")


def pending_totp(db: Session, user: User) -> Authenticator | None:
    return _totp(db, user, "pending")


def _totp(db: Session, user: User, status: str) -> Authenticator | None:
    return db.scalar(
        select(Authenticator).where(
            Authenticator.user_id == user.id,
            Authenticator.type == TYPE,
            Authenticator.status == status,
        )
    )


def start_totp_enrolment(db: Session, user: User) -> Authenticator:
    """Create (or replace) the pending key. Nothing changes for sign-in until it is verified
    (SPEC E4)."""
    _delete(db, user, "pending")
    row = Authenticator(
        realm_id=user.realm_id,
        user_id=user.id,
        type=TYPE,
        status="pending",
        secret_encrypted=cipher().encrypt(codes.new_totp_secret()),
    )
    db.add(row)
    db.flush()
    return row


def pending_secret(db: Session, user: User) -> str | None:
    row = pending_totp(db, user)
    return cipher().decrypt(row.secret_encrypted) if row and row.secret_encrypted else None


def _delete(db: Session, user: User, status: str) -> None:
    db.execute(
        delete(Authenticator).where(
            Authenticator.user_id == user.id,
            Authenticator.type == TYPE,
            Authenticator.status == status,
        )
    )


class Totp(SecondFactor):
    kind = TYPE
    row_type = TYPE
    amr = assurance.BY_TOTP
    labels = AuditLabels(method="totp", enabled=audit_event(event_type="mfa.totp.enabled"))

    def is_set_up(self, db: Session, user: User) -> bool:
        return active_totp(db, user) is not None

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
        auth = active_totp(db, user)
        if auth is None:
            raise InvalidCode("no authenticator")
        codes.verify_totp(db, auth, response)
        return self.amr

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
        """The pending key, verified with a code, replaces any earlier key (SPEC E4, E7): a
        new generation, so the earlier backup codes and trusted browsers end (E5, B4, P8)."""
        pending = pending_totp(db, user)
        if pending is None:
            raise NotFound("no enrolment in progress")
        codes.verify_totp(db, pending, response)
        replaced = active_totp(db, user) is not None
        _delete(db, user, "active")
        pending.status = "active"
        return Enrolment(
            row=pending,
            amr=self.amr,
            replaced=replaced,
            new_generation=True,
            detail={"replaced": replaced},
        )


def enable_totp(
    db: Session,
    user: User,
    raw_code: object,
    *,
    actor: str,
    client_address: str | None,
    keep_sid: str | None,
) -> list[str]:
    """Verify the pending key with a code and turn it on (``enable_factor``: every earlier
    backup code is invalidated and a new set issued, every SSO session of the user but
    ``keep_sid`` ends and its tokens are revoked, SPEC E4, E5, E7, B4, V1). Returns the plain
    backup codes."""
    realm = db.get(Realm, user.realm_id)
    assert realm is not None
    enabled = enable_factor(
        db,
        realm,
        user,
        TOTP,
        raw_code,
        actor=actor,
        client_address=client_address,
        keep_sid=keep_sid,
    )
    assert enabled.codes is not None  # a new generation always brings a new set
    return enabled.codes


TOTP = Totp()
