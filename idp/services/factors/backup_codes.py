"""Backup codes (SPEC B1-B7) as a registered factor: a fallback that stands in for the
user's second factor at sign-in (so no ``row_type``: they never turn 2FA on), issued by the
``enable_factor`` frame with the first factor and on the user's request. The codes
themselves are ``services/backup_codes.py``."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ... import assurance
from ...models import Realm, User
from .. import backup_codes as codes
from .. import notifications
from ..audit import record_event
from ..errors import InvalidCode, NotFound
from ..trusted_browsers import void_trusts
from .base import AuditLabels, Enrolment, SecondFactor
from .status import has_second_factor


class BackupCodes(SecondFactor):
    kind = "backup_code"
    amr = assurance.BY_BACKUP_CODE
    labels = AuditLabels(method="backup_code")

    def is_set_up(self, db: Session, user: User) -> bool:
        return has_second_factor(db, user) and codes.count_unused(db, user.id) > 0

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
        if not has_second_factor(db, user):
            raise InvalidCode("no authenticator")
        codes.consume_backup_code(db, user, response)
        return self.amr

    def after_verified(
        self,
        db: Session,
        realm: Realm,
        user: User,
        *,
        client_address: str | None,
        locale: str | None,
    ) -> None:
        """A used code is audited with how many are left and mailed to the user in the
        sign-in's language (SPEC A4, P7)."""
        left = codes.count_unused(db, user.id)
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
        raise NotFound("backup codes come with a second factor (regenerate_backup_codes)")


def regenerate_backup_codes(
    db: Session, user: User, *, actor: str, client_address: str | None
) -> list[str]:
    """A new set on the user's request: every earlier code stops working (SPEC B3)."""
    if not has_second_factor(db, user):
        raise NotFound("two-factor authentication is not enabled")
    new = codes.issue_backup_codes(db, user)
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
    return new


BACKUP_CODES = BackupCodes()
