"""The outbox sender: claims due messages, delivers them, retries failures with backoff.

- **Claiming.** A message is claimed by one conditional UPDATE that sets ``claimed_until``
  (a lease); on PostgreSQL the candidate is first picked with ``FOR UPDATE SKIP LOCKED`` so
  that concurrent senders pass each other instead of queueing. Two senders never deliver one
  message twice while the lease lasts; a sender that dies mid-send leaves a claim that lapses,
  and the message is tried again.
- **Retries.** A failed attempt records the error and waits ``backoff(attempts)`` (30 s,
  doubling, at most an hour); after ``MAX_ATTEMPTS`` the message is marked ``failed``.
- **Isolation.** Delivery happens outside any transaction of a request, in a thread of its
  own (``start_sender_thread``) or in ``idp mail send-pending``: a slow or absent SMTP server
  never blocks or fails a sign-in or a page.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from flask import Flask
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from .. import db as dbmod
from ..db import utcnow
from ..models import OutboxMessage, Realm
from ..services import context
from .render import render_message
from .transport import deliver

log = logging.getLogger("idp.mail")

#: How long a claim lasts: longer than one SMTP attempt can take (IDP_SMTP_TIMEOUT).
LEASE_SECONDS = 120
MAX_ATTEMPTS = 8
#: How often the sender thread looks for due messages.
POLL_SECONDS = 2.0
#: While the sender keeps failing (the database down), it logs once per this many seconds.
QUIET_SECONDS = 60.0


def backoff(attempts: int) -> int:
    """Seconds to wait after the ``attempts``-th failed attempt."""
    return min(30 * 2 ** max(attempts - 1, 0), 3600)


@dataclass
class SendResult:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


def _due(now):  # a SQL condition
    return (
        OutboxMessage.status == "pending",
        OutboxMessage.next_attempt_at <= now,
        or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
    )


def claim_next(session: Session) -> OutboxMessage | None:
    """Claim the oldest due message for this sender (committed), or None."""
    for _ in range(20):
        now = utcnow()
        pick = select(OutboxMessage.id).where(*_due(now)).order_by(OutboxMessage.id).limit(1)
        if session.get_bind().dialect.name == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        message_id = session.scalar(pick)
        if message_id is None:
            session.commit()
            return None
        lease = now + timedelta(seconds=LEASE_SECONDS)
        claimed = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, *_due(now))
            .values(claimed_until=lease, attempts=OutboxMessage.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        session.commit()
        if claimed.rowcount == 1:
            return session.get(OutboxMessage, message_id, populate_existing=True)
    return None


def send_one(session: Session, message: OutboxMessage) -> str:
    """Deliver a claimed message and record the outcome: ``sent``, ``retrying`` or
    ``failed``."""
    lease = message.claimed_until
    try:
        realm = session.get(Realm, message.realm_id)
        email = render_message(message, realm)
        session.rollback()  # no transaction stays open while the SMTP server is slow
        deliver(context.settings(), email)
    except Exception as exc:  # any failure is recorded and retried
        session.rollback()
        attempts = message.attempts
        outcome = "failed" if attempts >= MAX_ATTEMPTS else "retrying"
        log.warning(
            "mail %s to %s not delivered (attempt %s, %s): %s",
            message.id,
            message.to_address,
            attempts,
            outcome,
            exc,
        )
        values = {
            "claimed_until": None,
            "last_error": f"{type(exc).__name__}: {exc}"[:1000],
            "next_attempt_at": utcnow() + timedelta(seconds=backoff(attempts)),
        }
        if outcome == "failed":
            values["status"] = "failed"
        _finish(session, message.id, lease, values)
        return outcome
    _finish(
        session,
        message.id,
        lease,
        {"status": "sent", "sent_at": utcnow(), "params": None, "claimed_until": None},
    )
    return "sent"


def _finish(session: Session, message_id: int, lease, values: dict) -> None:
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.claimed_until == lease)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    session.commit()


def send_pending(app: Flask, *, limit: int = 100) -> SendResult:
    """Deliver up to ``limit`` due messages; what happened to them."""
    result = SendResult()
    with app.app_context():
        session = dbmod.get_session()
        for _ in range(limit):
            message = claim_next(session)
            if message is None:
                break
            outcome = send_one(session, message)
            setattr(result, outcome, getattr(result, outcome) + 1)
    return result


def start_sender_thread(app: Flask, *, interval: float = POLL_SECONDS) -> threading.Event:
    """Run ``send_pending`` every ``interval`` seconds in a daemon thread; set the returned
    event to stop it. Failures (the database down) are logged, at most once a minute while
    they last, and the loop goes on."""
    stop = threading.Event()

    def loop() -> None:
        last_logged = float("-inf")
        while not stop.is_set():
            try:
                send_pending(app)
                last_logged = float("-inf")
            except Exception as exc:  # the sender must outlive an outage
                if time.monotonic() - last_logged >= QUIET_SECONDS:
                    log.warning("mail sender: %s", exc)
                    last_logged = time.monotonic()
            stop.wait(interval)

    threading.Thread(target=loop, name="idp-mail-sender", daemon=True).start()
    return stop
