"""Writing mail to the outbox: mail is the outbox's first kind (``idp.services.outbox``).

``enqueue_mail`` adds a row to the caller's transaction and never talks to a mail server, so
mail can't block or fail the request that causes it, and a rolled-back event sends nothing.
The mail sender (``idp.mail.sender``) renders and delivers it later, in the recipient's
language. A mail's row: ``recipient`` is the address, ``topic`` the template's name,
``locale`` the language, and the payload the template's parameters.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ..i18n import LANGUAGES
from ..models import OutboxMessage, Realm, User
from . import outbox

#: The outbox kind of mail.
MAIL = "mail"


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
    return outbox.enqueue(
        db,
        realm,
        kind=MAIL,
        recipient=address,
        topic=template,
        payload=params or {},
        user=user,
        locale=recipient_locale(realm, user, locale),
    )
