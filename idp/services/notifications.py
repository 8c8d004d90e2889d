"""Security notifications to the user (SPEC P7, issue 9 "What is sent"): one message per
event, queued in the caller's transaction (``enqueue_mail``), so the account pages, the
console and the ``idp`` command send them alike, and a refused or rolled-back action sends
nothing. Each message says when (the time the row was queued), from which client address,
and what to do if it wasn't the user. The message is written in the user's language
(``User.locale``, else the realm's default).

The messages are ``templates/mail/<name>.txt`` / ``.html`` with their subjects in
``idp.mail.catalog``.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from ..models import Realm, User
from .audit import OPERATOR
from .mail import enqueue_mail


def _send(
    db: Session,
    user: User,
    template: str,
    client_address: str | None,
    locale: str | None = None,
    **params: object,
) -> None:
    realm = db.get(Realm, user.realm_id)
    assert realm is not None
    enqueue_mail(
        db,
        realm,
        template=template,
        user=user,
        params={"client_address": client_address, **params},
        locale=locale,
    )


def _who(actor: str) -> str:
    """``operator`` (the ``idp`` command) or ``admin`` (the console)."""
    return "operator" if actor == OPERATOR else "admin"


def two_factor_enabled(
    db: Session,
    user: User,
    *,
    replaced: bool,
    client_address: str | None,
    earlier_codes: bool = True,
) -> None:
    """2FA was turned on (or the authenticator app replaced); a new set of backup codes came
    with it, so no separate "new codes" message is sent. ``earlier_codes``: there were
    backup codes before, which no longer work (not so when 2FA was off)."""
    _send(
        db,
        user,
        "two_factor_enabled",
        client_address,
        replaced=replaced,
        earlier_codes=earlier_codes,
    )


def two_factor_disabled(db: Session, user: User, *, client_address: str | None) -> None:
    """The user turned 2FA off."""
    _send(db, user, "two_factor_disabled", client_address)


def two_factor_reset(db: Session, user: User, *, actor: str, client_address: str | None) -> None:
    """An admin (console) or the operator (``idp user reset-2fa``) removed the user's 2FA."""
    _send(db, user, "two_factor_reset", client_address, by=_who(actor))


def backup_code_used(
    db: Session,
    user: User,
    *,
    remaining: int,
    client_address: str | None,
    locale: str | None = None,
) -> None:
    """A backup code was spent at sign-in; ``remaining`` unused codes are left. ``locale``
    is the sign-in's language (the sign-in has not finished, so ``User.locale`` may be an
    older one)."""
    _send(db, user, "backup_code_used", client_address, locale, count=remaining)


def backup_codes_issued(db: Session, user: User, *, client_address: str | None) -> None:
    """A new set of backup codes replaced the old one."""
    _send(db, user, "backup_codes_issued", client_address)


def password_changed(
    db: Session, user: User, *, client_address: str | None, actor: str | None = None
) -> None:
    """The password changed: by the user (``actor`` None) or set by an admin or the
    operator."""
    _send(db, user, "password_changed", client_address, by=_who(actor) if actor else None)
