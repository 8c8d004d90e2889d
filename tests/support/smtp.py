"""A real SMTP server on loopback (aiosmtpd) and a mailbox view of what reached it.

``mailbox`` (a fixture in conftest) points the live server's settings at the SMTP server for
one test; ``mailbox.deliver()`` runs the outbox sender once, as the sender thread would, and
``mailbox.to(address)`` returns what arrived for that address, parsed.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Received:
    envelope_to: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""

    @property
    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        return part.get_content() if part is not None else ""

    def links(self) -> list[str]:
        return re.findall(r"https?://[^\s<>\"]+", self.text)


class _Handler:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.lock = threading.Lock()
        #: While set, the server answers every message with a temporary failure.
        self.refuse = False
        #: Seconds the server takes over each message (to make concurrent senders overlap).
        self.delay = 0.0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.refuse:
            return "451 4.3.0 try again later"
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.received.append(Received(list(envelope.rcpt_tos), message))
        return "250 OK"


class SmtpServer:
    def __init__(self, port: int = 0) -> None:
        self.handler = _Handler()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=port or _free_port())
        self.controller.start()

    @property
    def port(self) -> int:
        return self.controller.port

    def stop(self) -> None:
        self.controller.stop()

    def all(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)

    def to(self, address: str) -> list[Received]:
        address = address.lower()
        return [r for r in self.all() if address in (a.lower() for a in r.envelope_to)]

    def wait_for(self, address: str, count: int = 1, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.to(address)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        return self.to(address)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Mailbox:
    """The live app's mail, delivered to ``smtp`` by ``deliver()``."""

    def __init__(self, app: Any, smtp: SmtpServer) -> None:
        self.app, self.smtp = app, smtp

    def deliver(self) -> Any:
        """Run the sender until nothing more is due (other tests' mail included: every
        sign-in change queues some), as ``idp mail send-pending`` does. Returns the totals."""
        from idp.mail.sender import SendResult, send_pending

        total = SendResult()
        while True:
            result = send_pending(self.app)
            for name in ("sent", "retrying", "failed"):
                setattr(total, name, getattr(total, name) + getattr(result, name))
            if result.sent + result.retrying + result.failed == 0:
                return total

    def to(self, address: str) -> list[Received]:
        self.deliver()
        return self.smtp.to(address)

    def one(self, address: str, subject_contains: str = "") -> Received:
        """The one message to ``address`` (whose subject contains the text), asserting there
        is exactly one."""
        found = [m for m in self.to(address) if subject_contains in m.subject]
        assert len(found) == 1, [m.subject for m in self.smtp.to(address)]
        return found[0]
