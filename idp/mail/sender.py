"""Mail, the outbox's first kind, and the worker that runs the outbox in a process.

- **The mail sender** (``prepare_mail``, registered as kind ``mail`` when this module is
  imported): renders a queued message in the recipient's language, then, once the worker's
  transaction is over, hands it to the transport (SMTP, or the log). Claiming, retries and
  back-off are the outbox's (``idp.services.outbox``), the same for every kind.
- **The worker.** ``send_pending`` delivers what is due, of every registered kind, in an app
  context; ``start_sender_thread`` runs it every few seconds in a thread of its own (``idp
  serve``, ``idp dev``), and ``idp mail send-pending`` runs it from cron. Delivery happens
  outside any transaction of a request: a slow or absent receiver never blocks or fails a
  sign-in or a page.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from flask import Flask
from sqlalchemy.orm import Session

from .. import db as dbmod
from ..models import OutboxMessage, Realm
from ..services import context
from ..services import logout as _logout  # noqa: F401  (registers the back-channel kind)
from ..services.mail import MAIL
from ..services.outbox import (
    MAX_ATTEMPTS,
    Delivery,
    backoff,
    deliver_due,
    register_sender,
)
from ..services.outbox import (
    DeliveryResult as SendResult,
)
from .render import render_message
from .transport import deliver

__all__ = ["MAX_ATTEMPTS", "SendResult", "backoff", "send_pending", "start_sender_thread"]

log = logging.getLogger("idp.mail")

#: How often the sender thread looks for due messages.
POLL_SECONDS = 2.0
#: While the sender keeps failing (the database down), it logs once per this many seconds.
QUIET_SECONDS = 60.0


def prepare_mail(db: Session, message: OutboxMessage, payload: dict[str, Any]) -> Delivery:
    """The outbox sender of kind ``mail``: the email, rendered now; sent when called."""
    realm = db.get(Realm, message.realm_id)
    if realm is None:  # the realm's messages go with it (ON DELETE CASCADE)
        raise LookupError(f"realm {message.realm_id} is gone")
    email = render_message(message, realm, payload)
    settings = context.settings()
    return lambda: deliver(settings, email)


register_sender(MAIL, prepare_mail)


def send_pending(app: Flask, *, limit: int = 100) -> SendResult:
    """Deliver up to ``limit`` due messages (of every registered kind); what happened to
    them."""
    with app.app_context():
        return deliver_due(dbmod.get_session(), limit=limit)


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
