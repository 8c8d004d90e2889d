from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime, utcnow


class Authenticator(Base):
    """One second factor of a user (one table for all kinds, as django-allauth does).

    type ``totp``: ``secret_encrypted`` holds the base32 key encrypted with the data key;
    ``last_step`` is the last accepted RFC 6238 time step (replay protection, SPEC L2).
    status ``pending`` (enrolment started, not yet verified) or ``active``.
    type ``backup_codes``: one row per issued set; the codes are ``BackupCode`` rows.
    """

    __tablename__ = "authenticator"

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
