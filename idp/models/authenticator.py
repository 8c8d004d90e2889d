from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime, utcnow


class Authenticator(Base):
    """One second factor of a user (one table for all kinds, as django-allauth does).

    type ``totp``: ``secret_encrypted`` holds the base32 key encrypted with the data key;
    ``last_step`` is the last accepted RFC 6238 time step (replay protection, SPEC L2).
    status ``pending`` (enrolment started, not yet verified) or ``active``.
    type ``backup_codes``: one row per issued set; the codes are ``BackupCode`` rows.
    type ``webauthn``: a security key or passkey (W3C WebAuthn Level 2): ``credential_id``
    and ``public_key`` (the COSE key as py_webauthn returns it), both base64url; the
    authenticator's ``sign_count`` (SS 6.1.1), the user's ``name`` for it and the
    ``transports`` the browser reported. A credential id is unique in its realm.
    """

    __tablename__ = "authenticator"
    __table_args__ = (
        Index("ix_authenticator_realm_credential", "realm_id", "credential_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    realm_id: Mapped[int] = mapped_column(ForeignKey("realm.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="active")
    secret_encrypted: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_step: Mapped[int | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # -- type ``webauthn`` -------------------------------------------------------------------
    #: base64url; at most 1023 bytes (WebAuthn SS 5.1), so at most 1364 characters.
    credential_id: Mapped[str | None] = mapped_column(String(1400), nullable=True)
    public_key: Mapped[str | None] = mapped_column(Text, nullable=True)
    sign_count: Mapped[int | None] = mapped_column(nullable=True)
    name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    transports: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)


class WebAuthnChallenge(Base):
    """A WebAuthn challenge handed to the browser (W3C WebAuthn SS 13.4.3): single use (spent
    by one conditional DELETE), bound to what asked for it (``binding_digest``: the digest
    of the sign-in's interaction or of the account page's SSO session) and to a purpose
    (``register`` or ``authenticate``), and expiring. Only its digest is kept: the browser
    sends the challenge back inside the signed client data. ``name`` is the name the user
    gave the key being registered."""

    __tablename__ = "webauthn_challenge"

    id: Mapped[int] = mapped_column(primary_key=True)
    realm_id: Mapped[int] = mapped_column(ForeignKey("realm.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), nullable=True, index=True
    )
    purpose: Mapped[str] = mapped_column(String(16))
    binding_digest: Mapped[str] = mapped_column(String(64))
    challenge_digest: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class BackupCode(Base):
    """One single-use backup code, stored as HMAC-SHA256 under a key kept outside the
    database (SPEC B7)."""

    __tablename__ = "backup_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    authenticator_id: Mapped[int] = mapped_column(
        ForeignKey("authenticator.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    #: Position 1..10 in the set as shown and downloaded, so the 2FA page can say which
    #: numbers are used without keeping the codes in clear.
    number: Mapped[int | None] = mapped_column(nullable=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
