"""SSO sessions (the browser's signed-in state at the provider) and token revocation."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from ..db import utcnow
from ..models import SsoSession, Token, User
from .context import settings
from .crypto import digest, random_token


def create_sso_session(
    db: Session,
    user: User,
    *,
    amr: list[str],
    acr: str,
    auth_time: int,
    user_agent: str = "",
    client_address: str | None = None,
) -> tuple[SsoSession, str]:
    """Start a session; return the row and the cookie value (only its digest is stored).
    The browser and address are kept for the account page's list of sessions."""
    token = random_token(32)
    row = SsoSession(
        realm_id=user.realm_id,
        user_id=user.id,
        sid=random_token(16),
        token_digest=digest(token),
        auth_time=auth_time,
        amr=list(amr),
        acr=acr,
        user_agent=(user_agent or "")[:300],
        client_address=client_address,
        expires_at=utcnow() + timedelta(seconds=settings().sso_session_ttl),
    )
    db.add(row)
    db.flush()
    return row, token


def find_sso_session(db: Session, realm_id: int, cookie_value: str | None) -> SsoSession | None:
    if not cookie_value or not isinstance(cookie_value, str) or len(cookie_value) > 200:
        return None
    row = db.scalar(select(SsoSession).where(SsoSession.token_digest == digest(cookie_value)))
    if row is None or row.realm_id != realm_id or row.ended_at is not None:
        return None
    if row.expires_at <= utcnow():
        return None
    user = db.get(User, row.user_id)
    if user is None or user.disabled:
        return None
    return row


def end_sso_session(db: Session, row: SsoSession) -> None:
    row.ended_at = utcnow()


def end_user_sessions(db: Session, user: User, *, except_sid: str | None = None) -> None:
    """End every SSO session of the user, but the one ``except_sid`` if given."""
    query = update(SsoSession).where(SsoSession.user_id == user.id, SsoSession.ended_at.is_(None))
    if except_sid is not None:
        query = query.where(SsoSession.sid != except_sid)
    db.execute(query.values(ended_at=utcnow()))


def revoke_user_tokens(db: Session, user: User, *, except_sid: str | None = None) -> None:
    """Revoke every token of the user, but those issued in the session ``except_sid``."""
    query = update(Token).where(Token.user_id == user.id, Token.revoked_at.is_(None))
    if except_sid is not None:
        query = query.where(or_(Token.sid.is_(None), Token.sid != except_sid))
    db.execute(query.values(revoked_at=utcnow()))


def revoke_session_tokens(db: Session, sid: str) -> None:
    db.execute(
        update(Token)
        .where(Token.sid == sid, Token.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
