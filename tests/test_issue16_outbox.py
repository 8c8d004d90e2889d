"""Issue 16, "One outbox": everything delivered later goes through one outbox, with a sender per
message kind, and claiming, retries and back-off written once.

A kind that exists only in these tests (``test.echo``, its sender registered here) is delivered
by the same worker as mail (``send_pending``, what the sender thread and ``idp mail
send-pending`` run), with the same claim-once, retry and back-off; and mail, the first kind,
still goes over real SMTP (aiosmtpd on loopback, the ``mailbox`` fixture)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import delete, select

from idp import clock
from idp.db import get_session
from idp.mail.sender import send_pending
from idp.models import OutboxMessage, Realm
from idp.services import outbox
from idp.services.mail import enqueue_mail

KIND = "test.echo"


@dataclass
class EchoSender:
    """The sender of kind ``test.echo``: records what it delivered; fails while ``failures``
    is above zero; takes ``delay`` seconds over each delivery (so two workers overlap)."""

    delivered: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    failures: int = 0
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(
        self, db: Any, message: OutboxMessage, payload: dict[str, Any]
    ) -> Callable[[], None]:
        message_id = message.id  # read in the worker's transaction, as a real sender does

        def delivery() -> None:
            assert not db.in_transaction(), "a delivery runs with no transaction open"
            time.sleep(self.delay)
            with self.lock:
                if self.failures > 0:
                    self.failures -= 1
                    raise ConnectionError("receiver refused")
                self.delivered.append((message_id, payload))

        return delivery

    def ids(self) -> list[int]:
        with self.lock:
            return [message_id for message_id, _ in self.delivered]


@pytest.fixture
def echo(app: Any) -> Iterator[EchoSender]:
    sender = EchoSender()
    outbox.register_sender(KIND, sender)
    yield sender
    outbox.unregister_sender(KIND)
    with app.app_context():
        db = get_session()
        db.execute(delete(OutboxMessage).where(OutboxMessage.kind == KIND))
        db.commit()


def _queue(app: Any, realm: Any, n: int = 1, **payload: Any) -> list[int]:
    with app.app_context():
        db = get_session()
        row = db.get(Realm, realm.id)
        assert row is not None
        messages = [
            outbox.enqueue(
                db,
                row,
                kind=KIND,
                recipient=f"endpoint-{i}",
                topic="echo",
                payload={"n": i, **payload},
            )
            for i in range(n)
        ]
        db.commit()
        return [m.id for m in messages]


def _rows(app: Any, ids: list[int]) -> list[OutboxMessage]:
    with app.app_context():
        db = get_session()
        rows = list(db.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids))))
        db.expunge_all()
        return sorted(rows, key=lambda r: r.id)


def _drain(app: Any) -> outbox.DeliveryResult:
    """Run the worker until nothing is due (other tests' mail included)."""
    total = outbox.DeliveryResult()
    while True:
        result = send_pending(app)
        if result.total == 0:
            return total
        for name in ("sent", "retrying", "failed"):
            setattr(total, name, getattr(total, name) + getattr(result, name))


def test_a_new_kind_is_delivered_by_the_same_worker(app, realm, echo):
    [message_id] = _queue(app, realm, secret="s3cr3t-value")
    [row] = _rows(app, [message_id])
    assert row.kind == KIND and row.status == "pending"
    assert "s3cr3t-value" not in (row.payload or ""), "the payload is encrypted at rest"
    _drain(app)
    assert echo.delivered == [(message_id, {"n": 0, "secret": "s3cr3t-value"})]
    [row] = _rows(app, [message_id])
    assert (row.status, row.attempts, row.payload) == ("sent", 1, None)
    assert row.sent_at is not None and row.claimed_until is None
    _drain(app)
    assert echo.ids() == [message_id], "delivered once"


def test_a_failed_delivery_is_retried_after_the_backoff_then_marked_sent(app, realm, echo):
    echo.failures = 1
    [message_id] = _queue(app, realm)
    assert _drain(app).retrying >= 1
    [row] = _rows(app, [message_id])
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error == "ConnectionError: receiver refused"
    assert row.claimed_until is None and row.payload is not None
    # Not due again before its back-off (30 s after the first failure) ends...
    with clock.travelled(seconds=outbox.backoff(1) - 5):
        _drain(app)
    assert echo.ids() == []
    # ...and delivered once it does, with the same payload.
    with clock.travelled(seconds=outbox.backoff(1) + 1):
        _drain(app)
    assert echo.delivered == [(message_id, {"n": 0})]
    [row] = _rows(app, [message_id])
    assert (row.status, row.attempts, row.payload) == ("sent", 2, None)


def test_backoff_doubles_up_to_an_hour_then_the_message_is_given_up(app, realm, echo):
    assert [outbox.backoff(n) for n in (1, 2, 3, 4, 8, 20)] == [30, 60, 120, 240, 3600, 3600]
    echo.failures = 10**6
    [message_id] = _queue(app, realm)
    for _ in range(outbox.MAX_ATTEMPTS + 2):
        _drain(app)
        clock.travel(hours=2)
    [row] = _rows(app, [message_id])
    assert (row.status, row.attempts) == ("failed", outbox.MAX_ATTEMPTS)
    assert row.payload is not None, "a message given up keeps its payload (to retry by hand)"


def test_two_workers_racing_deliver_each_message_once(app, realm, echo):
    """Two workers (threads, as two sender threads or two cron runs would be) on the same due
    messages: each is claimed by one conditional UPDATE, so each is delivered exactly once."""
    _drain(app)  # earlier tests' mail is out of the way
    n = 30
    echo.delay = 0.02
    ids = _queue(app, realm, n)
    start = threading.Barrier(2)
    results: list[Any] = [None, None]

    def worker(i: int) -> None:
        start.wait()
        try:
            results[i] = send_pending(app, limit=n)
        except BaseException as exc:  # reported by the assertion below
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(isinstance(r, outbox.DeliveryResult) for r in results), results
    counts = Counter(echo.ids())
    assert sorted(counts) == ids and set(counts.values()) == {1}, counts
    assert all(r.sent > 0 for r in results), results  # both took part
    assert {(r.status, r.attempts) for r in _rows(app, ids)} == {("sent", 1)}


def test_a_claim_holds_for_its_lease_and_lapses_after_a_crash(app, realm, echo):
    """A second worker can't claim a message another holds; a worker that died mid-delivery
    leaves a claim that lapses after ``LEASE_SECONDS``, and the message is delivered then."""
    _drain(app)
    [message_id] = _queue(app, realm)
    with app.app_context():
        first = outbox.claim_next(get_session())
        assert first is not None and first.id == message_id
    with app.app_context():
        assert outbox.claim_next(get_session()) is None, "claimed once"
    _drain(app)
    assert echo.ids() == []  # the first worker "crashed": nobody delivers it meanwhile
    with clock.travelled(seconds=outbox.LEASE_SECONDS + 1):
        _drain(app)
    assert echo.ids() == [message_id]
    [row] = _rows(app, [message_id])
    assert (row.status, row.attempts) == ("sent", 2)


def test_a_kind_without_a_sender_waits_for_one(app, realm, echo):
    """A process that has no sender for a kind leaves its messages alone (unclaimed, no
    attempt counted) for a process that has one."""
    [message_id] = _queue(app, realm)
    outbox.unregister_sender(KIND)
    _drain(app)
    [row] = _rows(app, [message_id])
    assert (row.status, row.attempts, row.claimed_until) == ("pending", 0, None)
    outbox.register_sender(KIND, echo)
    _drain(app)
    assert echo.ids() == [message_id]


def test_mail_is_a_kind_and_still_goes_over_smtp(app, realm, mailbox, echo):
    """Mail, queued the way the services queue it, and a message of another kind, due at the
    same time: one run of the worker delivers both, mail over SMTP."""
    user = realm.user()
    with app.app_context():
        db = get_session()
        row = db.get(Realm, realm.id)
        mail = enqueue_mail(
            db,
            row,
            template="password_changed",
            to=user.email,
            params={"client_address": "198.51.100.4"},
        )
        db.commit()
        mail_id = mail.id
    [echo_id] = _queue(app, realm)
    received = mailbox.one(user.email)
    assert received.subject == f"Your password was changed (Test {realm.name})"
    assert "198.51.100.4" in received.text
    assert echo.ids() == [echo_id]
    mail_row, echo_row = _rows(app, [mail_id, echo_id])
    assert (mail_row.kind, mail_row.topic, mail_row.recipient) == (
        "mail",
        "password_changed",
        user.email,
    )
    assert (mail_row.status, echo_row.status) == ("sent", "sent")


def test_a_refused_mail_is_retried_by_the_outbox(app, realm, mailbox):
    """The SMTP server refusing is a failed delivery like any other: recorded, retried after
    the outbox's back-off."""
    user = realm.user()
    mailbox.smtp.handler.refuse = True
    with app.app_context():
        db = get_session()
        mail = enqueue_mail(db, db.get(Realm, realm.id), template="password_changed", to=user.email)
        db.commit()
        mail_id = mail.id
    mailbox.deliver()
    [row] = _rows(app, [mail_id])
    assert (row.status, row.attempts) == ("pending", 1) and "451" in (row.last_error or "")
    mailbox.smtp.handler.refuse = False
    with clock.travelled(seconds=outbox.backoff(1) + 1):
        mailbox.deliver()
    assert len(mailbox.smtp.to(user.email)) == 1
    assert _rows(app, [mail_id])[0].status == "sent"
