"""Delivering one rendered email: through the configured SMTP server, or, with no
``IDP_SMTP_HOST``, into the log (logger ``idp.mail``), whole, so a developer can follow links."""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage

from ..config import Settings

log = logging.getLogger("idp.mail")


def deliver(settings: Settings, email: EmailMessage) -> None:
    """Send ``email``; raises ``OSError`` or ``smtplib.SMTPException`` when it wasn't."""
    if not settings.smtp_host:
        _log_message(email)
        return
    tls = ssl.create_default_context()
    if settings.smtp_ssl:
        server: smtplib.SMTP = smtplib.SMTP_SSL(
            settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout, context=tls
        )
    else:
        server = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout)
    with server:
        if settings.smtp_starttls:
            server.starttls(context=tls)
        if settings.smtp_username:
            server.login(settings.smtp_username, settings.smtp_password)
        server.send_message(email)


def _log_message(email: EmailMessage) -> None:
    text = email.get_body(preferencelist=("plain",))
    body = text.get_content() if text is not None else ""
    log.warning(
        "mail not sent (no IDP_SMTP_HOST set); it reads:\nTo: %s\nSubject: %s\n\n%s",
        email["To"],
        email["Subject"],
        body,
    )
