"""Account actions an admin (console) or the operator (CLI) takes on a user: disable, enable,
set a password, vouch for the email address. Each function owns its side effects (the row,
the user's SSO sessions and tokens, the audit event) in the caller's transaction; the
console and the ``idp`` command call the same functions. Resetting a user's second factors
is ``factors.reset_second_factors``."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ..models import User
from . import notifications
from .audit import record_event
from .sessions import AdminReason, sign_out_by_admin
from .trusted_browsers import void_trusts
from .users import set_password


def disable_account(db: Session, user: User, *, actor: str, client_address: str | None) -> None:
    """Refuse the user's sign-ins from now on, end every session and revoke every token
    (enabling the account again brings none of them back)."""
    user.disabled = True
    sign_out_by_admin(
        db, user, reason=AdminReason.ACCOUNT_DISABLED, actor=actor, client_address=client_address
    )
    record_event(
        db,
        user.realm_id,
        "admin.user.disabled",
        actor=actor,
        subject=user,
        client_address=client_address,
    )


def enable_account(db: Session, user: User, *, actor: str, client_address: str | None) -> None:
    """Let the user sign in again."""
    user.disabled = False
    record_event(
        db,
        user.realm_id,
        "admin.user.enabled",
        actor=actor,
        subject=user,
        client_address=client_address,
    )


def reset_password(
    db: Session, user: User, new_password: str, *, actor: str, client_address: str | None
) -> None:
    """Set the user's password for them (admin or operator): the new one must pass the
    password rules (InvalidInput otherwise, and nothing changes); every session ends and
    every token is revoked and every trusted browser forgotten, as when a password leaks.
    The user is told by mail (issue 9)."""
    set_password(db, user, new_password)
    sign_out_by_admin(
        db, user, reason=AdminReason.PASSWORD_RESET, actor=actor, client_address=client_address
    )
    void_trusts(db, user)  # SPEC P8: as after the user's own password change
    record_event(
        db,
        user.realm_id,
        "admin.user.password_reset",
        actor=actor,
        subject=user,
        client_address=client_address,
    )
    notifications.password_changed(db, user, client_address=client_address, actor=actor)


def set_email_verified(
    db: Session, user: User, verified: bool, *, actor: str, client_address: str | None
) -> None:
    """Vouch for the address (or withdraw it): what the ``email_verified`` claim says."""
    user.email_verified = verified
    record_event(
        db,
        user.realm_id,
        "admin.user.email_verified" if verified else "admin.user.email_unverified",
        actor=actor,
        subject=user,
        client_address=client_address,
    )
