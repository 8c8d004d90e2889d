"""Housekeeping: delete rows that can no longer be used (run `idp db purge` from cron)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, or_
from sqlalchemy.orm import Session

from ..db import utcnow
from ..models import AuthorizationCode, Interaction, SsoSession, Token


def purge_expired(db: Session, *, grace_days: int = 1) -> dict[str, int]:
    """Delete expired interactions, authorization codes, tokens and SSO sessions that
    expired (or ended) more than ``grace_days`` ago. Audit events are kept."""
    cutoff = utcnow() - timedelta(days=grace_days)
    counts = {
        "interactions": db.execute(
            delete(Interaction).where(Interaction.expires_at < cutoff)
        ).rowcount,
        "tokens": db.execute(
            delete(Token).where(
                Token.access_expires_at < cutoff,
                or_(
                    Token.refresh_expires_at.is_(None),
                    Token.refresh_expires_at < cutoff,
                    Token.revoked_at < cutoff,
                ),
            )
        ).rowcount,
        "authorization_codes": db.execute(
            delete(AuthorizationCode).where(AuthorizationCode.expires_at < cutoff)
        ).rowcount,
        "sso_sessions": db.execute(
            delete(SsoSession).where(
                or_(SsoSession.expires_at < cutoff, SsoSession.ended_at < cutoff)
            )
        ).rowcount,
    }
    return {k: v or 0 for k, v in counts.items()}
