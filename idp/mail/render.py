"""Turning a queued mail (an outbox row of kind ``mail``) into an email in the recipient's
language, branded with the realm's display name. Links are absolute, built on
``IDP_BASE_URL``."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime as rfc2822_date
from email.utils import make_msgid
from typing import Any
from urllib.parse import urlsplit

from flask import render_template
from flask_babel import force_locale, gettext
from sqlalchemy.orm import object_session

from ..formats import format_when, zone_name
from ..models import OutboxMessage, Realm, User
from ..services import context
from ..services.names import header_safe
from .catalog import SUBJECTS


def render_message(message: OutboxMessage, realm: Realm, params: dict[str, Any]) -> EmailMessage:
    """The email for ``message``, whose decrypted payload (the template's parameters) is
    ``params``. Needs an app context."""
    settings = context.settings()
    locale = message.locale or "en"

    def link(path: str) -> str:
        return settings.base_url + path

    with force_locale(locale):
        values: dict[str, Any] = {
            "params": params,
            "realm_name": realm.display_name,
            "realm": realm.name,
            "link": link,
            "to_address": message.recipient,
            "when": format_when(message.created_at),
            "timezone": zone_name(),
            "lang": locale,
            "recipient_name": recipient_name(message, params),
        }
        subject = gettext(SUBJECTS[message.topic], **_subject_values(params))
        values["subject"] = subject
        text = render_template(f"mail/{message.topic}.txt", **values)
        html = render_template(f"mail/{message.topic}.html", **values)
    email = EmailMessage()
    # Names are checked when they are set (SPEC V5); one stored before that, or by hand,
    # still never stops the message: a line break becomes a space, no header is injected.
    # The realm's name in brackets of the subject's language (full width in Japanese).
    brackets = "（{}）" if locale == "ja" else " ({})"
    email["Subject"] = header_safe(subject + brackets.format(realm.display_name))
    email["From"] = header_safe(settings.mail_from)
    email["To"] = header_safe(message.recipient)
    email["Date"] = rfc2822_date(message.created_at)
    email["Message-ID"] = make_msgid(
        idstring=f"idp{message.id}", domain=urlsplit(settings.base_url).hostname or "localhost"
    )
    # RFC 3834: an automatic message; out-of-office robots don't answer it.
    email["Auto-Submitted"] = "auto-generated"
    email.set_content(text)
    email.add_alternative(html, subtype="html")
    return email


def recipient_name(message: OutboxMessage, params: dict[str, Any]) -> str:
    """The name a mail opens with (``田中 太郎 様``, ``Hello Taro Tanaka,``): the account's
    display name, when it is a name rather than the part of the address before the @ (the
    default of an account created without one); empty when not known."""
    name = params.get("name") if isinstance(params.get("name"), str) else ""
    session = object_session(message)
    if not name and message.user_id and session is not None:
        user = session.get(User, message.user_id)
        name = user.display_name if user else ""
    name = " ".join((name or "").split())
    local_part = message.recipient.split("@", 1)[0]
    return "" if not name or name.casefold() == local_part.casefold() else name


def _subject_values(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if isinstance(v, (str, int))}
