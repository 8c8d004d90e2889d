"""The outbox: everything the provider delivers later, and the single-use links mail carries.

An ``OutboxMessage`` is written in the same transaction as the event that causes it: a
rolled-back event sends nothing, a committed one never loses its message. Each message has a
``kind`` (``mail`` today; logout tokens and webhooks next), and the worker
(``idp.services.outbox``) claims due rows, hands each to the sender registered for its kind
and retries failures with back-off, the same way for every kind. What a message needs (a
mail's template parameters, a link's token) is its ``payload``, kept encrypted with the data
keys until it is sent, then erased.

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
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Which sender delivers it (``idp.services.outbox.register_sender``): ``mail``, ...
    kind: Mapped[str] = mapped_column(String(32))
    realm_id: Mapped[int] = mapped_column(ForeignKey("realm.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), nullable=True, index=True
    )
    #: Where it goes, in clear, for the operator and the log (mail: the address).
    recipient: Mapped[str] = mapped_column(String(320))
    #: What it is, in clear, to find and filter messages (mail: the template's name,
    #: ``templates/mail/<topic>.txt`` and ``.html``).
    topic: Mapped[str] = mapped_column(String(64))
    #: What the sender needs, as JSON encrypted with the data keys; None once sent (mail:
    #: the template's parameters).
    payload: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: The language the recipient reads, for kinds written for people (mail); None for
    #: messages to machines.
    locale: Mapped[str | None] = mapped_column(String(8), nullable=True)
    #: ``pending`` (to send, maybe after a failed attempt), ``sent``, or ``failed`` (gave up).
    status: Mapped[str] = mapped_column(String(8), default="pending", server_default="pending")
    attempts: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: A worker that claimed the row owns it until then (a crashed worker's claim lapses).
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class DeliveryAttempt(Base):
    """One attempt at delivering an outbox message, whatever its outcome: what the console's
    list of recent deliveries shows (a logout token's HTTP status, a timeout...)."""

    __tablename__ = "delivery_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"), index=True)
    realm_id: Mapped[int] = mapped_column(ForeignKey("realm.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: ``sent``, ``retrying`` (failed, tried again later) or ``failed`` (the last attempt).
    outcome: Mapped[str] = mapped_column(String(8))
    #: What happened, in words: ``HTTP 204``, ``timed out after 5 s``...
    result: Mapped[str] = mapped_column(String(500), default="")
    duration_ms: Mapped[int] = mapped_column(default=0, server_default=text("0"))


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
