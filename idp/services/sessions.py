"""SSO sessions (the browser's signed-in state at the provider) and token revocation, the one
sign-out, and the account page's list of one's own sessions: each is named by an opaque
handle (a keyed digest of its sid), so the page shows neither the sid nor a row id, and a
handle only ever finds a session of the user who asks.

Sign-out is one service, :func:`sign_out`: it ends the session(s), revokes the tokens hanging
from them, tells the applications the sessions signed in to (back-channel logout,
``idp.services.logout``), records the audit event, and returns what it ended
(:class:`SignedOut`). Each path calls it through a function
named for the path: the account page (``sign_out_session``, ``sign_out_everywhere``),
RP-initiated logout (``sign_out_for_client``), the console's and the CLI's account actions
(``sign_out_by_admin``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from ..db import utcnow
from ..models import SsoSession, Token, User
from . import logout
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


def session_is_active(db: Session, sid: str) -> bool:
    """Whether the SSO session ``sid`` is neither ended nor expired."""
    return (
        db.scalar(
            select(SsoSession.id).where(
                SsoSession.sid == sid,
                SsoSession.ended_at.is_(None),
                SsoSession.expires_at > utcnow(),
            )
        )
        is not None
    )


def end_user_sign_ins(db: Session, user: User) -> None:
    """End every unfinished sign-in of the user (SPEC V1), step-ups of a session that stays
    included: the user's credential generation moves on, and a sign-in that recorded an older
    one cannot go on at any stage (``interaction.flow``). One atomic UPDATE of the user's
    row, which also orders it against a sign-in finishing at the same moment (that one reads
    the row ``FOR UPDATE``)."""
    user.credential_generation = User.credential_generation + 1
    db.flush()


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


# -- the one sign-out --------------------------------------------------------------------------
@dataclass(frozen=True)
class SignedOut:
    """What one sign-out ended: the SSO sessions (by sid), and for the token rows it revoked, the
    clients (row ids) they were issued to, by the session they were issued in (None: in no
    session)."""

    user_id: int
    sids: tuple[str, ...]
    clients: dict[str | None, frozenset[int]] = field(default_factory=dict)
    #: Token rows revoked (an access token and its refresh token are one row).
    tokens_revoked: int = 0


def sign_out(
    db: Session,
    user: User,
    *,
    event_type: str,
    actor: str,
    client_address: str | None,
    session: SsoSession | None = None,
    keep_sid: str | None = None,
    detail: dict[str, Any] | None = None,
) -> SignedOut:
    """End ``session`` (one of ``user``'s), or with ``session`` None every session of the user
    but ``keep_sid`` and every unfinished sign-in (``end_user_sign_ins``); revoke the tokens
    issued in what ended (every token of the user, for all of them); record ``event_type``
    with ``detail``. Every path that signs a user out comes here (the account page, RP-initiated
    logout, the console and the CLI, through the named functions below), so that what hangs
    from a session ends with it, and is told, in one place. The caller commits.

    The conditional UPDATEs make a session already ended (by a concurrent request) count as
    nothing here."""
    result = _end_sessions(db, user, session=session, keep_sid=keep_sid)
    record_event(
        db,
        user.realm_id,
        event_type,
        actor=actor,
        subject=user,
        client_address=client_address,
        detail=detail,
    )
    return result


def _end_sessions(
    db: Session,
    user: User,
    *,
    session: SsoSession | None,
    keep_sid: str | None,
    spare_client_id: str | None = None,
) -> SignedOut:
    """What every sign-out does, audited by its caller (``sign_out``) or by the change that
    caused it (``sign_out_after_credential_change``, ``end_replaced_session``): end the
    sessions, revoke their tokens, and queue a logout token for each application they signed
    in to that has a back-channel URI (``logout.notify_backchannel``; ``spare_client_id``
    excepted)."""
    now = utcnow()
    ending = update(SsoSession).where(SsoSession.user_id == user.id, SsoSession.ended_at.is_(None))
    revoking = update(Token).where(Token.revoked_at.is_(None))
    if session is not None:
        if session.user_id != user.id:
            raise ValueError("not the user's session")
        ending = ending.where(SsoSession.id == session.id)
        revoking = revoking.where(Token.sid == session.sid)
    else:
        end_user_sign_ins(db, user)
        revoking = revoking.where(Token.user_id == user.id)
        if keep_sid is not None:
            ending = ending.where(SsoSession.sid != keep_sid)
            revoking = revoking.where(or_(Token.sid.is_(None), Token.sid != keep_sid))
    sids = tuple(
        db.scalars(
            ending.values(ended_at=now).returning(SsoSession.sid),
            execution_options={"synchronize_session": "fetch"},
        ).all()
    )
    revoked = db.execute(
        revoking.values(revoked_at=now).returning(Token.sid, Token.client_id),
        execution_options={"synchronize_session": "fetch"},
    ).all()
    clients: dict[str | None, set[int]] = {}
    for sid, client_id in revoked:
        clients.setdefault(sid, set()).add(client_id)
    result = SignedOut(
        user.id,
        sids,
        {sid: frozenset(ids) for sid, ids in clients.items()},
        len(revoked),
    )
    logout.notify_backchannel(db, user, sids, spare_client_id=spare_client_id)
    return result


def end_replaced_session(
    db: Session, previous: SsoSession, *, user: User, client_id: str | None
) -> SignedOut:
    """A sign-in finished in a browser that had a session (a step-up, or another user
    signing in): the new session replaces ``previous``, which ends like any other (its
    tokens revoked, its applications told). On a step-up (``user`` is the session's user)
    the application the step-up is for (``client_id``) is not told: it receives tokens for
    the new session in the same response. The sign-in's own audit event says so."""
    owner = user if previous.user_id == user.id else db.get(User, previous.user_id)
    if owner is None:  # the row's foreign key: the user is there
        return SignedOut(previous.user_id, ())
    spare = client_id if owner is user else None
    return _end_sessions(db, owner, session=previous, keep_sid=None, spare_client_id=spare)


def sign_out_after_credential_change(
    db: Session, user: User, *, keep_sid: str | None = None
) -> SignedOut:
    """A new password (the user's own change, or by an emailed link) or a new factor
    generation: every other session of the user ends with its tokens, and every unfinished
    sign-in (SPEC V1, P8), as when a credential leaks. The session ``keep_sid`` (the one making
    the change) stays. The change's own audit event says so; this records none."""
    return _end_sessions(db, user, session=None, keep_sid=keep_sid)


def sign_out_session(
    db: Session, user: User, row: SsoSession, *, this_browser: bool, client_address: str | None
) -> SignedOut:
    """The account page: the user ends one of their sessions (this browser's, by its Sign
    out, or one on their list of sessions)."""
    browser, platform = browser_summary(row.user_agent)
    return sign_out(
        db,
        user,
        session=row,
        event_type="session.signed_out",
        actor=f"user:{user.email}",
        client_address=client_address,
        detail={
            "browser": " / ".join(p for p in (browser, platform) if p),
            "session_address": row.client_address,
            "this_browser": this_browser,
        },
    )


def sign_out_everywhere(db: Session, user: User, *, client_address: str | None) -> SignedOut:
    """The account page's Sign out everywhere: every session of the user, this one too."""
    return sign_out(
        db,
        user,
        event_type="session.signed_out_all",
        actor=f"user:{user.email}",
        client_address=client_address,
        detail={"sessions": len(list_active_sessions(db, user))},
    )


def sign_out_for_client(
    db: Session, row: SsoSession, *, client_id: str | None, client_address: str | None
) -> SignedOut:
    """RP-Initiated Logout 1.0: the browser's session ends at a relying party's request
    (``client_id``, when the request names one), confirmed by the user or by an ID token of
    this very session."""
    user = db.get(User, row.user_id)
    assert user is not None  # the session's user (the row's foreign key)
    return sign_out(
        db,
        user,
        session=row,
        event_type="session.signed_out_by_client",
        actor=f"user:{user.email}",
        client_address=client_address,
        detail={"client_id": client_id},
    )


class AdminReason(StrEnum):
    """Why an admin or the operator signs a user out: the ``reason`` of the event (the
    console shows it in words, ``audit.VALUE_LABELS``)."""

    ACCOUNT_DISABLED = "account_disabled"
    SESSION = "session"
    SIGNED_OUT = "signed_out"
    PASSWORD_RESET = "password_reset"  # noqa: S105 (a reason code, not a password)
    SECOND_FACTORS_RESET = "mfa_reset"


def sign_out_by_admin(
    db: Session, user: User, *, reason: AdminReason, actor: str, client_address: str | None
) -> SignedOut:
    """An account action of the console or the ``idp`` command ends every session of the
    user."""
    return sign_out(
        db,
        user,
        event_type="session.ended_by_admin",
        actor=actor,
        client_address=client_address,
        detail={"reason": str(reason), "sessions": len(list_active_sessions(db, user))},
    )


def sign_out_session_by_admin(
    db: Session, user: User, row: SsoSession, *, actor: str, client_address: str | None
) -> SignedOut:
    """The console's Sign out on one of the user's sessions: that session ends, at the
    provider and at the applications it signed in to."""
    browser, platform = browser_summary(row.user_agent)
    return sign_out(
        db,
        user,
        session=row,
        event_type="session.ended_by_admin",
        actor=actor,
        client_address=client_address,
        detail={
            "reason": str(AdminReason.SESSION),
            "sessions": 1,
            "browser": " / ".join(p for p in (browser, platform) if p),
            "session_address": row.client_address,
        },
    )


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
