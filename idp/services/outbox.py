"""The outbox: messages delivered after the transaction that caused them (a transactional
outbox), of any kind, with claiming, retries and back-off written once.

- **Writing.** ``enqueue`` adds a row to the caller's transaction and talks to nobody: a
  rolled-back event sends nothing, a committed one never loses its message, and a slow or
  absent receiver never blocks or fails the request. The payload is stored encrypted with the
  data keys (it may hold a link's secret or a signed token) and erased once sent.
- **Kinds.** A kind is a name and a sender (``register_sender``). A sender has two halves:
  ``prepare(db, message, payload)`` reads what it needs from the database and returns the
  delivery, a function the worker calls once the transaction is over (so a slow SMTP server
  or webhook endpoint holds no lock). A message whose kind this process has no sender for
  is left for a process that has one.
- **Claiming.** A message is claimed by one conditional UPDATE that sets ``claimed_until``
  (a lease, ``idp.db.claim_once``); on PostgreSQL the candidate is first picked with
  ``FOR UPDATE SKIP LOCKED`` so that concurrent workers pass each other instead of queueing.
  Two workers never deliver one message twice while the lease lasts; a worker that dies
  mid-delivery leaves a claim that lapses, and the message is tried again.
- **Retries.** A failed attempt records the error and waits ``backoff(attempts)`` (30 s,
  doubling, at most an hour); after ``MAX_ATTEMPTS`` the message is marked ``failed``. A kind
  may bound its retries differently (``Retries``: a back-channel logout gives up within
  minutes, a mail within hours). Each failed attempt logs one warning on the kind's logger
  (``idp.mail`` for mail).
- **Attempts.** Every attempt, whatever its outcome, is a ``DeliveryAttempt`` row (when, the
  outcome, what the receiver answered, how long it took): the console's recent deliveries.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session

from ..db import claim_once, utcnow
from ..models import DeliveryAttempt, OutboxMessage, Realm, User
from . import context

#: How long a claim lasts: longer than one delivery attempt can take (IDP_SMTP_TIMEOUT).
LEASE_SECONDS = 120
MAX_ATTEMPTS = 8

Outcome = Literal["sent", "retrying", "failed"]
#: The delivery of one message, run with no transaction open; raises when it failed, and may
#: return what the receiver answered, in words (``HTTP 204``), for the record of attempts.
Delivery = Callable[[], str | None]
#: Reads what a message needs (in the worker's session) and returns its delivery.
Sender = Callable[[Session, OutboxMessage, dict[str, Any]], Delivery]


class PermanentFailure(Exception):
    """Raised by a delivery that no retry can help (a URI the provider may not call): the
    message is marked ``failed`` at once."""


@dataclass(frozen=True)
class Retries:
    """How a kind retries: after the ``n``-th failed attempt it waits ``first * 2**(n-1)``
    seconds, at most ``longest``; the ``attempts``-th failure is the last."""

    attempts: int = 8
    first: int = 30
    longest: int = 3600

    def backoff(self, attempts: int) -> int:
        return min(self.first << max(attempts - 1, 0), self.longest)


DEFAULT_RETRIES = Retries(attempts=MAX_ATTEMPTS)

_SENDERS: dict[str, Sender] = {}
_RETRIES: dict[str, Retries] = {}


def register_sender(kind: str, sender: Sender, retries: Retries = DEFAULT_RETRIES) -> None:
    """Deliver messages of ``kind`` with ``sender`` (registering a kind again replaces it),
    retrying failures as ``retries`` says."""
    _SENDERS[kind] = sender
    _RETRIES[kind] = retries


def unregister_sender(kind: str) -> None:
    """Stop delivering ``kind`` in this process (its messages wait for another)."""
    _SENDERS.pop(kind, None)
    _RETRIES.pop(kind, None)


def registered_kinds() -> list[str]:
    return sorted(_SENDERS)


def backoff(attempts: int) -> int:
    """Seconds to wait after the ``attempts``-th failed attempt (the default retries)."""
    return DEFAULT_RETRIES.backoff(attempts)  # 30 * 2**(attempts - 1), at most an hour


# -- writing ---------------------------------------------------------------------------------
def enqueue(
    db: Session,
    realm: Realm,
    *,
    kind: str,
    recipient: str,
    topic: str,
    payload: dict[str, Any],
    user: User | None = None,
    locale: str | None = None,
) -> OutboxMessage:
    """Queue a message of ``kind`` in the caller's transaction. ``payload`` (JSON values)
    reaches the kind's sender; it is stored encrypted."""
    message = OutboxMessage(
        kind=kind,
        realm_id=realm.id,
        user_id=user.id if user else None,
        recipient=recipient,
        topic=topic,
        payload=context.cipher().encrypt(json.dumps(payload)),
        locale=locale,
    )
    db.add(message)
    return message


def message_payload(message: OutboxMessage) -> dict[str, Any]:
    """The decrypted payload of a queued message ({} once it was sent)."""
    if not message.payload:
        return {}
    payload: dict[str, Any] = json.loads(context.cipher().decrypt(message.payload))
    return payload


# -- delivering ------------------------------------------------------------------------------
@dataclass
class DeliveryResult:
    sent: int = 0
    retrying: int = 0
    failed: int = 0

    def add(self, outcome: Outcome) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    @property
    def total(self) -> int:
        return self.sent + self.retrying + self.failed


def _due(now: datetime, kinds: Collection[str]) -> tuple[ColumnElement[bool], ...]:
    return (
        OutboxMessage.status == "pending",
        OutboxMessage.kind.in_(kinds),
        OutboxMessage.next_attempt_at <= now,
        or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
    )


def claim_next(db: Session) -> OutboxMessage | None:
    """Claim the oldest due message of a registered kind for this worker (committed), or
    None."""
    kinds = registered_kinds()
    if not kinds:
        return None
    for _ in range(20):
        now = utcnow()
        pick = select(OutboxMessage.id).where(*_due(now, kinds)).order_by(OutboxMessage.id)
        pick = pick.limit(1)
        if db.get_bind().dialect.name == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        message_id = db.scalar(pick)
        if message_id is None:
            db.commit()
            return None
        lease = now + timedelta(seconds=LEASE_SECONDS)
        won = claim_once(
            db,
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, *_due(now, kinds))
            .values(claimed_until=lease, attempts=OutboxMessage.attempts + 1),
        )
        db.commit()
        if won:
            return db.get(OutboxMessage, message_id, populate_existing=True)
    return None


def deliver(db: Session, message: OutboxMessage) -> Outcome:
    """Deliver a claimed message with its kind's sender and record the outcome."""
    message_id, lease, kind, recipient, attempts, realm_id = (
        message.id,
        message.claimed_until,
        message.kind,
        message.recipient,
        message.attempts,
        message.realm_id,
    )
    retries = _RETRIES.get(kind, DEFAULT_RETRIES)
    started = time.monotonic()

    def attempt(outcome: Outcome, result: str) -> DeliveryAttempt:
        return DeliveryAttempt(
            message_id=message_id,
            realm_id=realm_id,
            kind=kind,
            outcome=outcome,
            result=result[:500],
            duration_ms=int((time.monotonic() - started) * 1000),
        )

    try:
        delivery = _SENDERS[kind](db, message, message_payload(message))
        db.rollback()  # no transaction stays open while the receiver is slow
        answer = delivery()
    except Exception as exc:  # any failure is recorded and retried
        db.rollback()
        final = attempts >= retries.attempts or isinstance(exc, PermanentFailure)
        outcome: Outcome = "failed" if final else "retrying"
        logging.getLogger(f"idp.{kind}").warning(
            "%s %s to %s not delivered (attempt %s, %s): %s",
            kind,
            message_id,
            recipient,
            attempts,
            outcome,
            exc,
        )
        error = f"{type(exc).__name__}: {exc}"
        values: dict[str, Any] = {
            "claimed_until": None,
            "last_error": error[:1000],
            "next_attempt_at": utcnow() + timedelta(seconds=retries.backoff(attempts)),
        }
        if outcome == "failed":
            values["status"] = "failed"
        _finish(db, message_id, lease, values, attempt(outcome, str(exc) or error))
        return outcome
    _finish(
        db,
        message_id,
        lease,
        {"status": "sent", "sent_at": utcnow(), "payload": None, "claimed_until": None},
        attempt("sent", answer or "delivered"),
    )
    return "sent"


def _finish(
    db: Session,
    message_id: int,
    lease: datetime | None,
    values: dict[str, Any],
    record: DeliveryAttempt,
) -> None:
    """Record an outcome and the attempt, if this worker's claim still holds (a lapsed
    claim is another's)."""
    if claim_once(
        db,
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.claimed_until == lease)
        .values(**values),
    ):
        db.add(record)
    db.commit()


def deliver_due(db: Session, *, limit: int = 100) -> DeliveryResult:
    """Deliver up to ``limit`` due messages of the registered kinds; what happened to them.
    Needs an app context (the data keys, the kinds' settings)."""
    result = DeliveryResult()
    for _ in range(limit):
        message = claim_next(db)
        if message is None:
            break
        result.add(deliver(db, message))
    return result
