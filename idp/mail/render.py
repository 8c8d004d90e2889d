"""Turning an outbox row into an email in the recipient's language, branded with the realm's
display name. Links are absolute, built on ``IDP_BASE_URL``."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime as rfc2822_date
from email.utils import make_msgid
from typing import Any
from urllib.parse import urlsplit

from flask import render_template
from flask_babel import force_locale, format_datetime, gettext

from ..models import OutboxMessage, Realm
from ..services import context
from ..services.mail import message_params
from ..services.names import header_safe
from .catalog import SUBJECTS


def render_message(message: OutboxMessage, realm: Realm) -> EmailMessage:
    """The email for ``message`` (needs an app context)."""
    settings = context.settings()
    params = message_params(message)

    def link(path: str) -> str:
        return settings.base_url + path

    with force_locale(message.locale):
        values: dict[str, Any] = {
            "params": params,
            "realm_name": realm.display_name,
            "realm": realm.name,
            "link": link,
            "to_address": message.to_address,
            "when": format_datetime(message.created_at, "medium"),
            "timezone": settings.timezone,
            "lang": message.locale,
        }
        subject = gettext(SUBJECTS[message.template], **_subject_values(params))
        values["subject"] = subject
        text = render_template(f"mail/{message.template}.txt", **values)
        html = render_template(f"mail/{message.template}.html", **values)
    email = EmailMessage()
    # Names are checked when they are set (SPEC V5); one stored before that, or by hand,
    # still never stops the message: a line break becomes a space, no header is injected.
    email["Subject"] = header_safe(f"{subject} ({realm.display_name})")
    email["From"] = header_safe(settings.mail_from)
    email["To"] = header_safe(message.to_address)
    email["Date"] = rfc2822_date(message.created_at)
    email["Message-ID"] = make_msgid(
        idstring=f"idp{message.id}", domain=urlsplit(settings.base_url).hostname or "localhost"
    )
    # RFC 3834: an automatic message; out-of-office robots don't answer it.
    email["Auto-Submitted"] = "auto-generated"
    email.set_content(text)
    email.add_alternative(html, subtype="html")
    return email


def _subject_values(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if isinstance(v, (str, int))}
