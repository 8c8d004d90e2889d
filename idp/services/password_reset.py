"""Forgotten passwords: a reset link by email, and the second-factor lockout's way out
(issue 9, "Forgot password" and "Second-factor lockout").

- ``request_password_reset`` answers the same way, at the same cost, whether or not the
  address belongs to an account that may sign in (OWASP Forgot Password Cheat Sheet: "return
  a consistent message for both existent and non-existent accounts", "ensure that responses
  return in a consistent amount of time"). Both paths write the same throttle rows and one
  audit event, draw a token and encrypt the same parameters; only a known, enabled account
  gets a token row and a message. Requests are throttled per address and per client address.
- The link carries 256 random bits (``action_tokens``; only the digest is stored), belongs to
  the realm, works once and for ``LINK_TTL`` seconds.
- ``reset_password_by_link`` owns every side effect of a completed reset in the caller's
  transaction: the new password (the usual rules), every session ended and token revoked,
  trusted browsers forgotten, the other reset links revoked, the second-factor wait and the
  password throttle cleared (proof of the mailbox, which a guesser holding only the password
  lacks), the "password changed" message and the audit event. Second factors stay: the next
  sign-in still asks for the code.
- ``notify_lockout`` writes the message sent when a user's second-factor wait first starts.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session

from ..models import Realm, User
from . import action_tokens, mail, throttle
from .audit import record_event
from .context import cipher
from .crypto import random_token
from .errors import ServiceError
from .sessions import sign_out_after_credential_change
from .trusted_browsers import void_trusts
from .users import find_user_by_email, normalize_email, set_password

#: How long an emailed reset link works (issue 9: 30 minutes).
LINK_TTL = 30 * 60
#: Requests for one address (known or not): 5 in a row, then a wait from one minute that
#: doubles up to an hour; forgotten after an hour without requests. Limits mail to a victim.
REQUEST_ADDRESS = throttle.Policy(free=5, base_seconds=60, max_seconds=3600, window_seconds=3600)
#: Requests from one client address, whatever the address typed: 20, then a wait from 30 s
#: that doubles up to an hour; forgotten after an hour without requests.
REQUEST_CLIENT = throttle.Policy(free=20, base_seconds=30, max_seconds=3600, window_seconds=3600)


class InvalidResetLink(ServiceError):
    """The link is unknown, used, revoked, expired, of another realm, or its account can no
    longer use it (disabled, or the address changed since it was sent): one error for all."""


def request_address_key(realm_id: int, email_normalized: str) -> str:
    return f"reset:acct:{realm_id}:{email_normalized}"


def request_client_key(address: str | None) -> str:
    return f"reset:ip:{address or 'unknown'}"


def forgot_path(realm: Realm) -> str:
    """The standalone "Forgot your password?" page of the realm (no secret in it)."""
    return f"/realms/{realm.name}/forgot-password"


def reset_path(realm: Realm, raw_token: str) -> str:
    """The link emailed for a reset; ``raw_token`` appears nowhere else."""
    return f"/realms/{realm.name}/reset-password/{raw_token}"


def request_password_reset(
    db: Session,
    realm: Realm,
    email: str,
    *,
    client_address: str | None,
    locale: str | None = None,
) -> None:
    """Handle "send me a reset link" for ``email``. Raises TooManyAttempts (per address or
    per client address) and nothing else: the caller shows one answer whatever happened,
    and commits. ``locale`` (the page's language) is used when the user has none yet."""
    normalized = normalize_email(email)[:320]
    address_key = request_address_key(realm.id, normalized)
    client_key = request_client_key(client_address)
    throttle.serialize(db, address_key)
    throttle.check_allowed(db, client_key)
    throttle.check_allowed(db, address_key)
    # Every request counts, whatever the address: the throttle's "failure" is a request.
    throttle.record_failure(db, address_key, REQUEST_ADDRESS)
    throttle.record_failure(db, client_key, REQUEST_CLIENT)

    user = find_user_by_email(db, realm, normalized)
    usable = user is not None and not user.disabled
    raw = _issue(db, user) if usable and user else random_token(32)
    params = {
        "reset_path": reset_path(realm, raw),
        "client_address": client_address,
        "minutes": LINK_TTL // 60,
        "forgot_path": forgot_path(realm),
    }
    if usable and user is not None:
        mail.enqueue_mail(
            db,
            realm,
            template="password_reset",
            user=user,
            params=params,
            locale=user.locale or locale,
        )
    else:
        # The same work as the message above (a token drawn, parameters encrypted), so the
        # answer takes as long for an address with no account that may sign in.
        cipher().encrypt(json.dumps(params))
    event = record_event(
        db,
        realm.id,
        "account.password.reset_requested",
        actor="anonymous",
        subject=user,
        client_address=client_address,
        outcome="success" if usable else "failure",
        detail={} if usable else {"reason": "unknown_user" if user is None else "account_disabled"},
    )
    event.subject = email.strip()[:320]


def _issue(db: Session, user: User) -> str:
    issued = action_tokens.issue_action_token(
        db,
        user,
        action_tokens.PASSWORD_RESET,
        ttl_seconds=LINK_TTL,
        created_by="anonymous",  # whoever typed the address; the audit event has more
    )
    return issued.raw


def user_for_link(db: Session, realm: Realm, raw_token: str) -> User:
    """The account a live reset link of this realm is for (to name it on the page), or
    InvalidResetLink. Spends nothing."""
    row = action_tokens.find_action_token(db, realm.id, action_tokens.PASSWORD_RESET, raw_token)
    user = db.get(User, row.user_id) if row is not None else None
    if row is None or user is None or not _still_valid_for(user, row.email, realm):
        raise InvalidResetLink()
    return user


def _still_valid_for(user: User, sent_to: str, realm: Realm) -> bool:
    return (
        user.realm_id == realm.id
        and not user.disabled
        and normalize_email(sent_to) == user.email_normalized
    )


def reset_password_by_link(
    db: Session,
    realm: Realm,
    raw_token: str,
    new_password: str,
    *,
    client_address: str | None,
) -> User:
    """Set a new password through an emailed link; every side effect in the caller's
    transaction (see the module's docstring). Raises InvalidResetLink, or InvalidInput for a
    password the rules refuse: the caller then rolls back, and the link still works."""
    user = user_for_link(db, realm, raw_token)
    set_password(db, user, new_password)  # InvalidInput before anything is spent
    spent = action_tokens.consume_action_token(
        db, realm.id, action_tokens.PASSWORD_RESET, raw_token
    )
    if spent is None or spent.user_id != user.id:
        raise InvalidResetLink()  # another request spent it first; the caller rolls back
    action_tokens.revoke_action_tokens(db, user, action_tokens.PASSWORD_RESET)
    # The link reached this address (user_for_link refuses it after a change of address): the
    # mailbox is proven, as by a verification link, and an invitation is answered.
    user.email_verified = True
    action_tokens.revoke_action_tokens(db, user, action_tokens.INVITATION)
    sign_out_after_credential_change(db, user)
    void_trusts(db, user)  # SPEC P8: as after any password change
    throttle.reset(db, throttle.second_factor_key(user.id))
    throttle.reset(db, throttle.password_account_key(realm.id, user.email_normalized))
    mail.enqueue_mail(
        db,
        realm,
        template="password_changed",
        user=user,
        params={"client_address": client_address, "reset_path": forgot_path(realm)},
    )
    record_event(
        db,
        realm.id,
        "account.password.reset_by_link",
        actor=f"user:{user.email}",
        subject=user,
        client_address=client_address,
    )
    return user


def notify_lockout(
    db: Session,
    realm: Realm,
    user: User,
    *,
    client_address: str | None,
    retry_after: int,
    locale: str | None = None,
) -> None:
    """The second-factor wait of ``user`` has just started (SPEC L6): tell them someone has
    their password and is guessing codes, and how to get back in (a reset by email, which
    also ends the wait). Audited. Called once per lock-out, not on every refused try."""
    params: dict[str, Any] = {"client_address": client_address, "forgot_path": forgot_path(realm)}
    mail.enqueue_mail(
        db, realm, template="second_factor_lockout", user=user, params=params, locale=locale
    )
    record_event(
        db,
        realm.id,
        "login.second_factor.locked",
        actor=f"user:{user.email}",
        subject=user,
        client_address=client_address,
        outcome="failure",
        detail={"retry_after": retry_after},
    )
