from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime, utcnow


class SsoSession(Base):
    """A browser's signed-in session at the provider (single sign-on across clients).

    The cookie holds a random token; the row holds its SHA-256 digest. ``sid`` is the public
    session id put in ID tokens.
    """

    __tablename__ = "sso_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    realm_id: Mapped[int] = mapped_column(ForeignKey("realm.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    sid: Mapped[str] = mapped_column(String(64), unique=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    auth_time: Mapped[int] = mapped_column()
    amr: Mapped[list[str]] = mapped_column(JSON, default=list)
    acr: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: What the account page's session list shows: the browser and the address it signed in
    #: from.
    user_agent: Mapped[str] = mapped_column(String(300), default="", server_default="")
    client_address: Mapped[str | None] = mapped_column(String(64), nullable=True)


class SessionClient(Base):
    """A client that received tokens in an SSO session (at the code exchange): the
    applications the session signed in to, which single sign-out tells when it ends
    (``idp.services.logout``) and the console lists."""

    __tablename__ = "session_client"
    __table_args__ = (UniqueConstraint("session_id", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sso_session.id", ondelete="CASCADE"))
    client_id: Mapped[int] = mapped_column(ForeignKey("client.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Interaction(Base):
    """A sign-in in progress: the validated authorization request (or the account page to
    return to) and what the stages have established so far.

    It is bound to the browser that started it (digest of a random value kept in that
    browser's cookie) and expires after ``IDP_INTERACTION_TTL`` (SPEC L7).
    """

    __tablename__ = "interaction"

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(64), unique=True)
    realm_id: Mapped[int] = mapped_column(ForeignKey("realm.id", ondelete="CASCADE"), index=True)
    browser_digest: Mapped[str] = mapped_column(String(64))
    #: ``authorize`` (resume an OIDC authorization) or ``local`` (return to an own page).
    kind: Mapped[str] = mapped_column(String(16))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    return_to: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    #: Why the sign-in is needed: e.g. ``login`` or ``reauth`` (fresh sign-in demanded).
    reason: Mapped[str] = mapped_column(String(32), default="login")
    login_hint: Mapped[str | None] = mapped_column(String(320), nullable=True)
    #: Set once a stage identified the user (e.g. password accepted).
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), nullable=True
    )
    #: The user's ``credential_generation`` when this sign-in identified them; a later change
    #: that ended their sessions ended this sign-in too (SPEC V1).
    credential_generation: Mapped[int | None] = mapped_column(nullable=True)
    amr: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: What the pages settled along the way: ``postponed`` (enrolment put off, SPEC P2),
    #: ``notice_seen``, ``offer_seen`` (SPEC B6, P6), ``trust_browser`` (SPEC P8).
    progress: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: The SSO session a step-up started from (its factors are in ``amr`` already): the
    #: step-up dies with it (SPEC V2).
    from_sid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class TrustedBrowser(Base):
    """A browser the user told to skip the code (SPEC P8). The cookie holds a random token;
    the row holds its digest, bound to the user and to the second factor in force then."""

    __tablename__ = "trusted_browser"

    id: Mapped[int] = mapped_column(primary_key=True)
    realm_id: Mapped[int] = mapped_column(ForeignKey("realm.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    authenticator_id: Mapped[int] = mapped_column(
        ForeignKey("authenticator.id", ondelete="CASCADE"), index=True
    )
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    #: A short description of the browser (from its User-Agent) for the 2FA page.
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
