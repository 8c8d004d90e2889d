"""Email address verification (issue 9, "Verify email") and address changes.

A verification link proves that whoever follows it reads the mailbox the link was sent to.
The link's secret is an ``ActionToken`` of purpose ``verify_email`` (stored hashed, single
use, bound to the realm, valid ``VERIFY_TTL_SECONDS``); it records the address it was sent
to, and following it marks the account verified only while that is still the account's
address (OpenID Connect Core 1.0 section 5.1: ``email_verified`` means the provider took
steps to ensure the address was controlled by the user *when* it was verified). So any change
of address makes the claim false again, unless the admin or operator vouches for the new one.

Sending is throttled (one link per ``RESEND_INTERVAL_SECONDS`` per user), so the button
can't flood a mailbox; a new link revokes the user's older ones.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import utcnow
from ..models import ActionToken, Realm, User
from .action_tokens import (
    INVITATION,
    VERIFY_EMAIL,
    consume_action_token,
    find_action_token,
    issue_action_token,
    revoke_action_tokens,
)
from .audit import record_event
from .errors import N_, AlreadyExists, InvalidInput, ServiceError, TooManyAttempts
from .mail import enqueue_mail
from .users import EMAIL, find_user_by_email, normalize_email

#: How long a verification link works: a day, long enough to find the message the next
#: morning, short enough that an old message in a leaked mailbox archive is useless.
VERIFY_TTL_SECONDS = 24 * 3600
#: At most one link per user in this many seconds (the account page's and the console's
#: button alike).
RESEND_INTERVAL_SECONDS = 60


class InvalidLink(ServiceError):
    """The link is unknown, used, revoked, expired, of another realm, or no longer for the
    account's address: one error for all, the page says the same for each."""


class AlreadyVerified(ServiceError):
    pass


def verification_path(realm: Realm, raw: str) -> str:
    return f"/realms/{realm.name}/email/verify/{raw}"


def _last_sent(db: Session, user: User) -> ActionToken | None:
    return db.scalar(
        select(ActionToken)
        .where(ActionToken.user_id == user.id, ActionToken.purpose == VERIFY_EMAIL)
        .order_by(ActionToken.created_at.desc(), ActionToken.id.desc())
        .limit(1)
    )


def send_verification(
    db: Session, realm: Realm, user: User, *, actor: str, client_address: str | None
) -> None:
    """Email ``user`` a link that verifies their current address. Raises AlreadyVerified,
    or TooManyAttempts (retry_after) when a link went out less than a minute ago. Older
    links are revoked. Audited as ``account.email.verification_sent``; the caller commits."""
    if user.email_verified:
        raise AlreadyVerified()
    last = _last_sent(db, user)
    if last is not None:
        waited = (utcnow() - last.created_at).total_seconds()
        if waited < RESEND_INTERVAL_SECONDS:
            raise TooManyAttempts(max(1, int(RESEND_INTERVAL_SECONDS - waited) + 1))
    revoke_action_tokens(db, user, VERIFY_EMAIL)
    issued = issue_action_token(
        db, user, VERIFY_EMAIL, ttl_seconds=VERIFY_TTL_SECONDS, created_by=actor
    )
    enqueue_mail(
        db,
        realm,
        template="verify_email",
        user=user,
        params={
            "link_path": verification_path(realm, issued.raw),
            "hours": VERIFY_TTL_SECONDS // 3600,
            "client_address": client_address or "",
        },
    )
    record_event(
        db,
        realm.id,
        "account.email.verification_sent",
        actor=actor,
        subject=user,
        client_address=client_address,
    )


def pending_verification(db: Session, realm: Realm, raw: str) -> User | None:
    """The user a still-valid link is for (to show the address before it is confirmed)."""
    row = find_action_token(db, realm.id, VERIFY_EMAIL, raw)
    if row is None:
        return None
    user = db.get(User, row.user_id)
    if user is None or normalize_email(user.email) != normalize_email(row.email):
        return None
    return user


def verify_email(db: Session, realm: Realm, raw: str, *, client_address: str | None) -> User:
    """Follow a verification link: spends it and marks the address verified, if it is still
    the address the link was sent to. Raises InvalidLink otherwise (the link is spent all
    the same when the address changed). Audited; the caller commits."""
    row = consume_action_token(db, realm.id, VERIFY_EMAIL, raw)
    if row is None:
        raise InvalidLink()
    user = db.get(User, row.user_id)
    if user is None or normalize_email(user.email) != normalize_email(row.email):
        if user is not None:
            record_event(
                db,
                realm.id,
                "account.email.verified",
                actor="anonymous",
                subject=user,
                client_address=client_address,
                outcome="failure",
                detail={"reason": "address_changed"},
            )
        raise InvalidLink()
    user.email_verified = True
    record_event(
        db,
        realm.id,
        "account.email.verified",
        actor=f"user:{user.email}",
        subject=user,
        client_address=client_address,
    )
    return user


def change_email(
    db: Session,
    user: User,
    new_email: str,
    *,
    verified: bool = False,
    actor: str,
    client_address: str | None,
) -> bool:
    """Give ``user`` a new address (admin or operator). ``email_verified`` becomes false
    unless ``verified`` (the admin vouches for the new address); the user's pending
    verification links (and invitation links, for a new address) are revoked. Returns
    whether anything changed. Raises InvalidInput or AlreadyExists (another account of the
    realm has it). Audited; the caller commits."""
    new_email = new_email.strip()
    if not EMAIL.match(new_email) or len(new_email) > 320:
        raise InvalidInput(N_("Enter a valid email address."))
    realm = db.get(Realm, user.realm_id)
    assert realm is not None
    normalized = normalize_email(new_email)
    other = find_user_by_email(db, realm, normalized)
    if other is not None and other.id != user.id:
        raise AlreadyExists(N_("Another account of this realm has that email address."))
    if new_email == user.email and (not verified or user.email_verified):
        return False
    previous = user.email
    address_changed = normalize_email(previous) != normalized
    user.email = new_email
    user.email_normalized = normalized
    # A new mailbox is unproven; the same one (a change of case) keeps what was proven.
    user.email_verified = verified or (user.email_verified and not address_changed)
    revoke_action_tokens(db, user, VERIFY_EMAIL)
    if address_changed:
        # An invitation sent to the old address must not set the password of the new one.
        revoke_action_tokens(db, user, INVITATION)
    record_event(
        db,
        user.realm_id,
        "admin.user.email_changed",
        actor=actor,
        subject=user,
        client_address=client_address,
        detail={"previous_email": previous, "email_verified": user.email_verified},
    )
    return True
