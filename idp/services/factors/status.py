"""Whether a user has 2FA, and what of it (the account page, the console's lists): one query
over the one ``Authenticator`` table, for whatever factors the registry holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ...models import Authenticator, BackupCode, User
from .. import security_keys
from . import registry


@dataclass
class TwoFactorStatus:
    enabled: bool
    enrolled_at: datetime | None
    unused_backup_codes: int
    #: Active security keys and passkeys (issue 10).
    security_keys: int = 0


def has_second_factor(db: Session, user: User) -> bool:
    """An active row of any registered second factor (an authenticator app, a security key:
    issue 10, having a key turns 2FA on). Backup codes are a fallback, not a factor."""
    return (
        db.scalar(
            select(Authenticator.id)
            .where(
                Authenticator.user_id == user.id,
                Authenticator.type.in_(registry.second_factor_types()),
                Authenticator.status == "active",
            )
            .limit(1)
        )
        is not None
    )


def has_other_factor(db: Session, user: User, row: Authenticator) -> bool:
    """Whether the user keeps a second factor without ``row``."""
    return (
        db.scalar(
            select(Authenticator.id)
            .where(
                Authenticator.user_id == user.id,
                Authenticator.type.in_(registry.second_factor_types()),
                Authenticator.status == "active",
                Authenticator.id != row.id,
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
                Authenticator.type.in_(registry.second_factor_types()),
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
