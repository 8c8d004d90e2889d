"""The single-use secrets behind emailed links (``models.mail.ActionToken``).

A link carries 256 random bits; only their SHA-256 digest is stored, so the database alone
can't be turned into working links. A token belongs to one realm, one user and one purpose,
expires, and is spent by one conditional UPDATE, so two clicks at once spend it once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..db import affected_rows, claim_once, utcnow
from ..models import ActionToken, User
from .crypto import digest, random_token

PASSWORD_RESET = "password_reset"  # noqa: S105 - a purpose, not a password
VERIFY_EMAIL = "verify_email"
INVITATION = "invitation"
PURPOSES = (PASSWORD_RESET, VERIFY_EMAIL, INVITATION)


@dataclass(frozen=True)
class IssuedToken:
    raw: str
    row: ActionToken


def issue_action_token(
    db: Session,
    user: User,
    purpose: str,
    *,
    ttl_seconds: int,
    created_by: str,
    email: str | None = None,
) -> IssuedToken:
    """A new token for ``user``; ``raw`` goes into the link and is never stored."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}")
    raw = random_token(32)
    row = ActionToken(
        realm_id=user.realm_id,
        user_id=user.id,
        purpose=purpose,
        token_digest=digest(raw),
        email=email or user.email,
        expires_at=utcnow() + timedelta(seconds=ttl_seconds),
        created_by=created_by,
    )
    db.add(row)
    db.flush()
    return IssuedToken(raw, row)


def find_action_token(db: Session, realm_id: int, purpose: str, raw: str) -> ActionToken | None:
    """The token behind ``raw`` if it is of this realm and purpose, unused, unrevoked and
    unexpired; else None (the caller shows one message for every case)."""
    if not raw or len(raw) > 100:
        return None
    row = db.scalar(
        select(ActionToken).where(
            ActionToken.token_digest == digest(raw),
            ActionToken.realm_id == realm_id,
            ActionToken.purpose == purpose,
        )
    )
    if row is None or row.used_at or row.revoked_at or row.expires_at <= utcnow():
        return None
    return row


def consume_action_token(db: Session, realm_id: int, purpose: str, raw: str) -> ActionToken | None:
    """Spend the token behind ``raw``: the row if this call spent it, None if it was not
    valid (see ``find_action_token``) or another request spent it first."""
    row = find_action_token(db, realm_id, purpose, raw)
    if row is None:
        return None
    now = utcnow()
    if not claim_once(
        db,
        update(ActionToken)
        .where(
            ActionToken.id == row.id,
            ActionToken.used_at.is_(None),
            ActionToken.revoked_at.is_(None),
            ActionToken.expires_at > now,
        )
        .values(used_at=now),
    ):
        return None
    db.refresh(row)
    return row


def revoke_action_tokens(db: Session, user: User, purpose: str) -> int:
    """Revoke every live token of ``user`` for ``purpose``; how many were revoked."""
    now = utcnow()
    return affected_rows(
        db,
        update(ActionToken)
        .where(
            ActionToken.user_id == user.id,
            ActionToken.purpose == purpose,
            ActionToken.used_at.is_(None),
            ActionToken.revoked_at.is_(None),
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session=False),
    )
