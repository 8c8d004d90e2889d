"""Writing mail to the outbox (``models.mail.OutboxMessage``).

``enqueue_mail`` adds a row to the caller's transaction and never talks to a mail server, so
mail can't block or fail the request that causes it, and a rolled-back event sends nothing.
The sender (``idp.mail.sender``) renders and delivers it later, in the recipient's language.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session

from ..i18n import LANGUAGES
from ..models import OutboxMessage, Realm, User
from . import context


def recipient_locale(realm: Realm, user: User | None, locale: str | None = None) -> str:
    """The language of mail to ``user``: ``locale`` if given and supported, else the language
    the user last used the pages in, else the realm's default."""
    for candidate in (locale, user.locale if user else None, realm.default_locale):
        if candidate in LANGUAGES:
            return candidate
    return "en"


def enqueue_mail(
    db: Session,
    realm: Realm,
    *,
    template: str,
    user: User | None = None,
    to: str | None = None,
    params: dict[str, Any] | None = None,
    locale: str | None = None,
) -> OutboxMessage:
    """Queue message ``template`` (``templates/mail/<template>.txt`` and ``.html``) to
    ``to`` (default: the user's address). ``params`` (JSON values) reach the template as
    ``params``; they are stored encrypted, since they may hold a link's secret."""
    address = to or (user.email if user else None)
    if not address:
        raise ValueError("a message needs a recipient")
    message = OutboxMessage(
        realm_id=realm.id,
        user_id=user.id if user else None,
        to_address=address,
        template=template,
        params=context.cipher().encrypt(json.dumps(params or {})),
        locale=recipient_locale(realm, user, locale),
    )
    db.add(message)
    return message


def message_params(message: OutboxMessage) -> dict[str, Any]:
    """The decrypted parameters of a queued message ({} once it was sent)."""
    if not message.params:
        return {}
    return json.loads(context.cipher().decrypt(message.params))
