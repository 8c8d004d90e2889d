"""Invitations (issue 9, "Invitations"): an admin or the operator creates an account by
email, and the user sets their own password through the emailed link, so no one but the
user ever knows it.

An invited account has no usable password: its ``password_hash`` is the empty string, which
no password matches (``users.authenticate_password`` refuses it at the cost and with the
message of a wrong password). The link is an ``ActionToken`` of purpose ``invitation``
(stored hashed, single use, bound to the realm), valid ``INVITATION_TTL_SECONDS``. Accepting
sets the password, marks the address verified (the link proved the mailbox), and spends the
link. Resending issues a new link and revokes the old; revoking deletes the never-used
account, so the address can be invited again. Each step is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..db import utcnow
from ..i18n import LANGUAGES
from ..models import ActionToken, OutboxMessage, Realm, User
from .action_tokens import (
    INVITATION,
    consume_action_token,
    find_action_token,
    issue_action_token,
    revoke_action_tokens,
)
from .audit import record_event
from .crypto import random_token
from .errors import N_, AlreadyExists, InvalidInput, ServiceError
from .mail import enqueue_mail
from .names import check_name
from .passwords import validate_new_password
from .users import EMAIL, find_user_by_email, normalize_email, set_password

#: How long an invitation link works (issue 9: seven days).
INVITATION_TTL_SECONDS = 7 * 24 * 3600
#: ``password_hash`` of an account whose invitation is not accepted yet: no hash at all.
NO_PASSWORD = ""


class InvalidInvitation(ServiceError):
    """The link is unknown, used, revoked, expired or of another realm (one error for all)."""


class NotInvited(ServiceError):
    """The account is not waiting for an invitation to be accepted."""


@dataclass(frozen=True)
class InvitationState:
    """An account still waiting for its invitation: until when the newest link works, and
    whether that moment has passed."""

    expires_at: datetime | None
    expired: bool


def is_invited(user: User) -> bool:
    """Whether ``user`` is an invited account that has not set a password yet."""
    return user.password_hash == NO_PASSWORD


def invitation_path(realm: Realm, raw: str) -> str:
    return f"/realms/{realm.name}/email/invitation/{raw}"


def _send(
    db: Session, realm: Realm, user: User, *, actor: str, inviter: str, locale: str | None = None
) -> ActionToken:
    revoke_action_tokens(db, user, INVITATION)
    issued = issue_action_token(
        db, user, INVITATION, ttl_seconds=INVITATION_TTL_SECONDS, created_by=actor
    )
    enqueue_mail(
        db,
        realm,
        template="invitation",
        user=user,
        params={
            "link_path": invitation_path(realm, issued.raw),
            "days": INVITATION_TTL_SECONDS // 86400,
            "inviter": inviter,
            "name": user.display_name,
        },
        locale=locale,
    )
    return issued.row


def invite_user(
    db: Session,
    realm: Realm,
    email: str,
    *,
    display_name: str = "",
    is_admin: bool = False,
    actor: str,
    inviter: str = "",
    locale: str | None = None,
    client_address: str | None,
) -> tuple[User, datetime]:
    """Create ``email``'s account with no password and email it an invitation link.
    Returns the user and when the link expires. Raises InvalidInput (not an address) or
    AlreadyExists (the realm has the address). ``inviter`` names the admin in the message
    (empty: the operator). ``locale`` is the invitation's language, which the account keeps
    for its mail until the user uses the pages (None: the realm's default). Audited as
    ``admin.user.invited``; the caller commits."""
    email = email.strip()
    if not EMAIL.match(email) or len(email) > 320:
        raise InvalidInput(N_("Enter a valid email address."))
    display_name = check_name(display_name)  # blank: the default below
    normalized = normalize_email(email)
    if find_user_by_email(db, realm, normalized):
        raise AlreadyExists(N_("An account with this email address exists in this realm."))
    user = User(
        realm_id=realm.id,
        sub=random_token(16),
        email=email,
        email_normalized=normalized,
        display_name=display_name or email.split("@", 1)[0],
        password_hash=NO_PASSWORD,
        is_admin=is_admin,
        email_verified=False,
        locale=locale if locale in LANGUAGES else None,
    )
    db.add(user)
    db.flush()
    row = _send(db, realm, user, actor=actor, inviter=inviter, locale=user.locale)
    record_event(
        db,
        realm.id,
        "admin.user.invited",
        actor=actor,
        subject=user,
        client_address=client_address,
        detail={"admin": is_admin},
    )
    return user, row.expires_at


def _newest_links(db: Session, user_ids: list[int]) -> dict[int, ActionToken]:
    rows = db.scalars(
        select(ActionToken)
        .where(ActionToken.user_id.in_(user_ids), ActionToken.purpose == INVITATION)
        .order_by(ActionToken.created_at, ActionToken.id)
    ).all()
    return {row.user_id: row for row in rows}  # the newest wins


def invitation_states(db: Session, users: list[User]) -> dict[int, InvitationState]:
    """The invitation state of each invited account among ``users`` (others are absent)."""
    invited = [u for u in users if is_invited(u)]
    if not invited:
        return {}
    newest = _newest_links(db, [u.id for u in invited])
    now = utcnow()
    states = {}
    for user in invited:
        link = newest.get(user.id)
        live = link is not None and link.revoked_at is None and link.used_at is None
        expires = link.expires_at if link is not None else None
        states[user.id] = InvitationState(expires, not live or expires is None or expires <= now)
    return states


def resend_invitation(
    db: Session,
    realm: Realm,
    user: User,
    *,
    actor: str,
    inviter: str = "",
    client_address: str | None,
) -> datetime:
    """A new link for an invited account (the old ones stop working); when it expires.
    Raises NotInvited once the user set a password. Audited; the caller commits."""
    if not is_invited(user):
        raise NotInvited()
    row = _send(db, realm, user, actor=actor, inviter=inviter)
    record_event(
        db,
        realm.id,
        "admin.user.invitation_resent",
        actor=actor,
        subject=user,
        client_address=client_address,
    )
    return row.expires_at


def revoke_invitation(db: Session, user: User, *, actor: str, client_address: str | None) -> None:
    """Withdraw the invitation: the never-used account is deleted (its links with it, and
    its invitation mail if not sent yet), so the link leads nowhere and the address can be
    invited again. Raises NotInvited once the user set a password. Audited (the event keeps
    the address); the caller commits."""
    if not is_invited(user):
        raise NotInvited()
    record_event(
        db,
        user.realm_id,
        "admin.user.invitation_revoked",
        actor=actor,
        subject=user,
        client_address=client_address,
    )
    revoke_action_tokens(db, user, INVITATION)
    db.execute(
        delete(OutboxMessage).where(
            OutboxMessage.user_id == user.id,
            OutboxMessage.kind == "mail",
            OutboxMessage.topic == "invitation",
            OutboxMessage.status == "pending",
        )
    )
    db.flush()
    db.delete(user)
    db.flush()


def pending_invitation(db: Session, realm: Realm, raw: str) -> User | None:
    """The invited account a still-valid link is for (the page shows its address)."""
    row = find_action_token(db, realm.id, INVITATION, raw)
    if row is None:
        return None
    user = db.get(User, row.user_id)
    return user if user is not None and is_invited(user) else None


def accept_invitation(
    db: Session, realm: Realm, raw: str, password: str, *, client_address: str | None
) -> User:
    """Follow the link with the user's new password: the password must pass the rules
    (InvalidInput, and the link still works), then the link is spent, the password set and
    the address marked verified. Raises InvalidInvitation for a link that is not valid.
    Audited as ``account.invitation.accepted``; the caller commits."""
    problem = validate_new_password(password)
    if problem:
        if pending_invitation(db, realm, raw) is None:
            raise InvalidInvitation()
        raise InvalidInput(problem)
    row = consume_action_token(db, realm.id, INVITATION, raw)
    if row is None:
        raise InvalidInvitation()
    user = db.get(User, row.user_id)
    if user is None or not is_invited(user):
        raise InvalidInvitation()
    set_password(db, user, password)
    user.email_verified = normalize_email(user.email) == normalize_email(row.email)
    record_event(
        db,
        realm.id,
        "account.invitation.accepted",
        actor=f"user:{user.email}",
        subject=user,
        client_address=client_address,
    )
    return user
