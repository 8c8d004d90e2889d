"""Mail that waits to be sent (a transactional outbox) and the single-use links mail carries.

An ``OutboxMessage`` is written in the same transaction as the event that causes it: a
rolled-back event sends nothing, a committed one never loses its mail. The sender
(``idp.mail.sender``) claims due rows, renders them in the recipient's language and delivers
them with retries. What a message needs (a link's token, a count) is kept encrypted with the
data keys until it is sent, then erased.

An ``ActionToken`` is the secret behind an emailed link (password reset, address
verification, invitation): only its SHA-256 digest is stored, it belongs to one realm and one
purpose, expires, and is spent once by a conditional UPDATE.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime, utcnow


class OutboxMessage(Base):
    __tablename__ = "mail_outbox"
    __table_args__ = (Index("ix_mail_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    realm_id: Mapped[int] = mapped_column(ForeignKey("realm.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), nullable=True, index=True
    )
    to_address: Mapped[str] = mapped_column(String(320))
    #: Name of the message: ``templates/mail/<template>.txt`` and ``.html``.
    template: Mapped[str] = mapped_column(String(64))
    #: The template's parameters as JSON, encrypted with the data keys; None once sent.
    params: Mapped[str | None] = mapped_column(Text, nullable=True)
    locale: Mapped[str] = mapped_column(String(8))
    #: ``pending`` (to send, maybe after a failed attempt), ``sent``, or ``failed`` (gave up).
    status: Mapped[str] = mapped_column(String(8), default="pending", server_default="pending")
    attempts: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: A sender that claimed the row owns it until then (a crashed sender's claim lapses).
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ActionToken(Base):
    __tablename__ = "action_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    realm_id: Mapped[int] = mapped_column(ForeignKey("realm.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    #: ``password_reset``, ``verify_email`` or ``invitation``.
    purpose: Mapped[str] = mapped_column(String(32))
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    #: The address the link was sent to (a verification proves this address, not a later one).
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: Who caused it (``user:<sub>``, ``admin:<sub>``, ``operator``), for the audit trail.
    created_by: Mapped[str] = mapped_column(String(200), default="")
