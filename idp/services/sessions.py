"""SSO sessions (the browser's signed-in state at the provider) and token revocation, and the
account page's list of one's own sessions: each is named by an opaque handle (a keyed digest
of its sid), so the page shows neither the sid nor a row id, and a handle only ever finds a
session of the user who asks."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from ..db import utcnow
from ..models import SsoSession, Token, User
from .audit import record_event
from .context import settings
from .crypto import constant_time_equals, digest, keyed_digest, random_token


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


def end_user_sign_ins(db: Session, user: User) -> None:
    """End every unfinished sign-in of the user (SPEC V1), step-ups of a session that stays
    included: the user's credential generation moves on, and a sign-in that recorded an older
    one cannot go on at any stage (``interaction.flow``). One atomic UPDATE of the user's
    row, which also orders it against a sign-in finishing at the same moment (that one reads
    the row ``FOR UPDATE``)."""
    user.credential_generation = User.credential_generation + 1
    db.flush()


def end_user_sessions(db: Session, user: User, *, except_sid: str | None = None) -> None:
    """End every SSO session of the user, but the one ``except_sid`` if given, and every
    unfinished sign-in of the user (``end_user_sign_ins``; those started from ``except_sid``
    too). A change made inside a sign-in that must go on (a factor enrolled at its
    enrolment stage) then re-records the new generation on that one sign-in
    (``interaction.flow.keep_after_own_change``)."""
    end_user_sign_ins(db, user)
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


# -- the account page's session list ---------------------------------------------------------
def session_handle(row: SsoSession) -> str:
    """The opaque name of a session on the account page: reveals neither its sid, nor its
    cookie, nor how many sessions there are."""
    return keyed_digest(settings().secret_key, f"sso-handle:{row.sid}")[:32]


def list_active_sessions(db: Session, user: User) -> list[SsoSession]:
    """The user's sessions that are neither ended nor expired, newest first."""
    return list(
        db.scalars(
            select(SsoSession)
            .where(
                SsoSession.user_id == user.id,
                SsoSession.realm_id == user.realm_id,
                SsoSession.ended_at.is_(None),
                SsoSession.expires_at > utcnow(),
            )
            .order_by(SsoSession.created_at.desc(), SsoSession.id.desc())
        ).all()
    )


def find_own_session(db: Session, user: User, handle: object) -> SsoSession | None:
    """The active session of ``user`` named ``handle``; never another user's."""
    if not isinstance(handle, str) or len(handle) != 32:
        return None
    for row in list_active_sessions(db, user):
        if constant_time_equals(session_handle(row), handle):
            return row
    return None


def sign_out_session(
    db: Session, user: User, row: SsoSession, *, this_browser: bool, client_address: str | None
) -> None:
    """End one of the user's sessions and revoke the tokens issued in it (audited as
    ``session.signed_out``)."""
    if row.user_id != user.id:
        raise ValueError("not the user's session")
    end_sso_session(db, row)
    revoke_session_tokens(db, row.sid)
    browser, platform = browser_summary(row.user_agent)
    record_event(
        db,
        user.realm_id,
        "session.signed_out",
        actor=f"user:{user.email}",
        subject=user,
        client_address=client_address,
        detail={
            "browser": " / ".join(p for p in (browser, platform) if p),
            "session_address": row.client_address,
            "this_browser": this_browser,
        },
    )


def sign_out_everywhere(db: Session, user: User, *, client_address: str | None) -> int:
    """End every session of the user (this browser's too) and revoke every token of the
    user (audited as ``session.signed_out_all``). Returns how many sessions ended."""
    ended = len(list_active_sessions(db, user))
    end_user_sessions(db, user)
    revoke_user_tokens(db, user)
    record_event(
        db,
        user.realm_id,
        "session.signed_out_all",
        actor=f"user:{user.email}",
        subject=user,
        client_address=client_address,
        detail={"sessions": ended},
    )
    return ended


#: (marker in the User-Agent, name), first match wins: Edge and Opera also say "Chrome",
#: Chrome also says "Safari".
_BROWSERS = (
    ("Edg", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("CriOS/", "Chrome"),
    ("Chrome/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Safari/", "Safari"),
)
_PLATFORMS = (
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("Windows", "Windows"),
    ("CrOS", "ChromeOS"),
    ("Mac OS X", "macOS"),
    ("Macintosh", "macOS"),
    ("Linux", "Linux"),
)
_PRODUCT = re.compile(r"[A-Za-z][A-Za-z0-9._-]{0,30}")


def browser_summary(user_agent: str | None) -> tuple[str | None, str | None]:
    """The browser and the platform of a User-Agent in short form (``("Firefox",
    "Windows")``); a client that is no known browser is named by its first product token
    (``python-requests``); (None, None) when there is nothing to go by. Names only: the
    page puts them into words."""
    ua = user_agent or ""
    browser = next((name for marker, name in _BROWSERS if marker in ua), None)
    platform = next((name for marker, name in _PLATFORMS if marker in ua), None)
    if browser is None and not ua.startswith("Mozilla/"):
        found = _PRODUCT.match(ua.split("/", 1)[0])
        browser = found.group(0) if found else None
    return browser, platform
