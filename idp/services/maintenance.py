"""Housekeeping: delete rows that can no longer be used (run `idp db purge` from cron)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, or_
from sqlalchemy.orm import Session

from ..db import affected_rows, utcnow
from ..models import (
    ActionToken,
    AuthorizationCode,
    Interaction,
    OutboxMessage,
    SsoSession,
    Throttle,
    Token,
    TrustedBrowser,
    WebAuthnChallenge,
)
from .action_tokens import INVITATION

#: Mail that was given up on stays this long, so its ``last_error`` can be read.
FAILED_MAIL_DAYS = 30


def purge_expired(db: Session, *, grace_days: int = 1) -> dict[str, int]:
    """Delete expired interactions, authorization codes, tokens, SSO sessions and browser
    trusts that expired (or ended) more than ``grace_days`` ago, stale throttle counters,
    emailed links (other than invitations, which the console shows as expired until resent
    or revoked) and sent mail older than that, unspent WebAuthn challenges, and mail given
    up on more than ``FAILED_MAIL_DAYS`` ago. Audit events are kept."""
    cutoff = utcnow() - timedelta(days=grace_days)
    counts = {
        "interactions": affected_rows(
            db, delete(Interaction).where(Interaction.expires_at < cutoff)
        ),
        "tokens": affected_rows(
            db,
            delete(Token).where(
                Token.access_expires_at < cutoff,
                or_(
                    Token.refresh_expires_at.is_(None),
                    Token.refresh_expires_at < cutoff,
                    Token.revoked_at < cutoff,
                ),
            ),
        ),
        "authorization_codes": affected_rows(
            db, delete(AuthorizationCode).where(AuthorizationCode.expires_at < cutoff)
        ),
        "sso_sessions": affected_rows(
            db,
            delete(SsoSession).where(
                or_(SsoSession.expires_at < cutoff, SsoSession.ended_at < cutoff)
            ),
        ),
        "trusted_browsers": affected_rows(
            db, delete(TrustedBrowser).where(TrustedBrowser.expires_at < cutoff)
        ),
        # Password counters decay after an hour; second-factor counters count wrong codes in
        # a row until a success (SPEC L6), so only cleared ones go.
        "throttle_counters": affected_rows(
            db,
            delete(Throttle).where(
                Throttle.updated_at < cutoff,
                or_(Throttle.failures == 0, Throttle.key.startswith("pwd:")),
                or_(Throttle.blocked_until.is_(None), Throttle.blocked_until < cutoff),
            ),
        ),
        "emailed_links": affected_rows(
            db,
            delete(ActionToken).where(
                ActionToken.purpose != INVITATION,
                or_(ActionToken.expires_at < cutoff, ActionToken.used_at < cutoff),
            ),
        ),
        # The outbox, every kind (reported as "mail", its first kind, as before).
        "mail": affected_rows(
            db,
            delete(OutboxMessage).where(
                or_(
                    (OutboxMessage.status == "sent") & (OutboxMessage.sent_at < cutoff),
                    (OutboxMessage.status == "failed")
                    & (OutboxMessage.created_at < utcnow() - timedelta(days=FAILED_MAIL_DAYS)),
                )
            ),
        ),
        # Single-use WebAuthn challenges (issue 10) that were never spent.
        "webauthn_challenges": affected_rows(
            db, delete(WebAuthnChallenge).where(WebAuthnChallenge.expires_at < cutoff)
        ),
    }
    return counts
