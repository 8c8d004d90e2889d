"""The mail outbox (issue 9, "Sending"): a message is a row of the event's transaction,
delivered by the sender through a real SMTP server (aiosmtpd on loopback), retried while the
server refuses, and written to the log when no SMTP server is configured."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from idp import clock
from idp.db import get_session
from idp.mail.sender import MAX_ATTEMPTS, send_pending
from idp.models import OutboxMessage, Realm, User
from idp.services.mail import enqueue_mail
from idp.services.users import find_user_by_email

pytestmark = pytest.mark.slow


def _queue(app, realm_id: int, email: str, *, commit: bool = True, **params) -> int:
    with app.app_context():
        db = get_session()
        realm = db.get(Realm, realm_id)
        user = find_user_by_email(db, realm, email)
        message = enqueue_mail(db, realm, template="password_changed", user=user, params=params)
        db.flush()
        message_id = message.id
        if commit:
            db.commit()
        else:
            db.rollback()
        return message_id


def _row(app, message_id: int) -> OutboxMessage | None:
    with app.app_context():
        db = get_session()
        row = db.get(OutboxMessage, message_id)
        if row is not None:
            db.expunge(row)
        return row


def test_committed_message_arrives_with_text_html_and_brand(app, realm, mailbox):
    user = realm.user()
    message_id = _queue(app, realm.id, user.email, client_address="203.0.113.9")
    mail = mailbox.one(user.email)
    assert mail.subject == f"Your password was changed (Test {realm.name})"
    assert "203.0.113.9" in mail.text and "203.0.113.9" in mail.html
    assert f"Test {realm.name}" in mail.html
    assert mail.message["Auto-Submitted"] == "auto-generated"
    row = _row(app, message_id)
    assert row.status == "sent" and row.attempts == 1
    assert row.payload is None, "a sent message keeps no parameters (links' secrets)"
    # Delivered once: running the sender again sends nothing more.
    mailbox.deliver()
    assert len(mailbox.smtp.to(user.email)) == 1


def test_params_are_encrypted_at_rest(app, realm, mailbox):
    user = realm.user()
    message_id = _queue(app, realm.id, user.email, reset_path="/secret-link-value")
    row = _row(app, message_id)
    assert "secret-link-value" not in (row.payload or "")
    assert "secret-link-value" in mailbox.one(user.email).text


def test_rolled_back_event_sends_nothing(app, realm, mailbox):
    user = realm.user()
    message_id = _queue(app, realm.id, user.email, commit=False)
    mailbox.deliver()
    assert mailbox.smtp.to(user.email) == []
    assert _row(app, message_id) is None


def test_message_in_users_language(app, realm, mailbox):
    user = realm.user()
    with app.app_context():
        db = get_session()
        db.get(User, user.id).locale = "ja"
        db.commit()
    _queue(app, realm.id, user.email)
    mail = mailbox.one(user.email)
    assert "パスワード" in mail.subject, mail.subject


def test_server_refusing_is_retried_with_backoff_then_delivered(app, realm, mailbox):
    user = realm.user()
    mailbox.smtp.handler.refuse = True
    message_id = _queue(app, realm.id, user.email)
    result = mailbox.deliver()
    assert result.retrying >= 1
    row = _row(app, message_id)
    assert row.status == "pending" and row.attempts == 1
    assert "451" in row.last_error
    # Not due again before its backoff ends...
    mailbox.smtp.handler.refuse = False
    mailbox.deliver()
    assert mailbox.smtp.to(user.email) == []
    # ...and delivered once it does.
    with clock.travelled(seconds=31):
        mailbox.deliver()
    assert len(mailbox.smtp.to(user.email)) == 1
    assert _row(app, message_id).status == "sent"


def test_smtp_server_down_then_back(app, realm, mailbox):
    user = realm.user()
    settings = app.extensions["idp.settings"]
    real_port = settings.smtp_port
    settings.smtp_port = 1  # nothing listens there: connection refused
    message_id = _queue(app, realm.id, user.email)
    mailbox.deliver()
    row = _row(app, message_id)
    assert row.status == "pending" and "Connection" in row.last_error
    settings.smtp_port = real_port
    with clock.travelled(minutes=5):
        mailbox.deliver()
    assert len(mailbox.smtp.to(user.email)) == 1


def test_gives_up_after_max_attempts(app, realm, mailbox):
    user = realm.user()
    mailbox.smtp.handler.refuse = True
    message_id = _queue(app, realm.id, user.email)
    for _ in range(MAX_ATTEMPTS + 2):
        mailbox.deliver()
        clock.travel(hours=2)
    row = _row(app, message_id)
    assert row.status == "failed" and row.attempts == MAX_ATTEMPTS


def test_without_smtp_host_the_message_goes_to_the_log(app, realm, caplog):
    user = realm.user()
    settings = app.extensions["idp.settings"]
    assert settings.smtp_host == ""
    _queue(app, realm.id, user.email, reset_path="/follow-me")
    with caplog.at_level(logging.WARNING, logger="idp.mail"):
        while send_pending(app).sent:  # earlier tests' mail is due too
            pass
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "idp.mail")
    assert f"To: {user.email}" in logged
    assert "/follow-me" in logged


@pytest.mark.parametrize("bad", ["", None])
def test_message_needs_a_recipient(app, realm, bad):
    with app.app_context():
        db = get_session()
        with pytest.raises(ValueError):
            enqueue_mail(db, db.get(Realm, realm.id), template="password_changed", to=bad)
        assert (
            db.scalars(select(OutboxMessage).where(OutboxMessage.realm_id == realm.id)).all() == []
        )


def test_sender_thread_outlives_a_failing_database_and_logs_once_a_minute(
    tmp_path, monkeypatch, caplog
):
    """The sender thread keeps going while every run fails (the database unreadable), without
    a log line every two seconds; it delivers again once the database is back."""
    import threading

    from idp.mail import sender

    calls: list[int] = []
    failing = threading.Event()
    failing.set()
    done = threading.Event()

    def fake_send_pending(app):  # stands in for a database outage
        calls.append(1)
        if failing.is_set():
            raise RuntimeError("database unavailable")
        done.set()

    monkeypatch.setattr(sender, "send_pending", fake_send_pending)
    with caplog.at_level(logging.WARNING, logger="idp.mail"):
        stop = sender.start_sender_thread(None, interval=0.01)
        while len(calls) < 20:
            threading.Event().wait(0.01)
        failing.clear()
        assert done.wait(5)
        stop.set()
    lines = [r for r in caplog.records if "mail sender" in r.getMessage()]
    assert len(calls) >= 20 and len(lines) == 1
