"""Removing every second factor of a user: the user's own Disable, an admin's or the
operator's reset (SPEC D1, D2, A2, A3) share one function, over the one ``Authenticator``
table, so a factor added later is removed with the rest without being named here."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.orm import Session

from ...models import Authenticator, User
from .. import notifications, throttle
from ..audit import record_event
from ..sessions import AdminReason, end_user_sign_ins, sign_out_by_admin
from ..trusted_browsers import void_trusts
from .status import has_second_factor


def remove_second_factors(
    db: Session,
    user: User,
    *,
    event_type: str,
    actor: str,
    client_address: str | None,
    end_sessions: bool,
) -> bool:
    """Remove every second factor, backup code and trusted browser of the user. Returns
    whether 2FA had been enabled."""
    had = has_second_factor(db, user)
    void_trusts(db, user)  # SPEC P8: explicit, not left to the foreign key's cascade
    db.execute(delete(Authenticator).where(Authenticator.user_id == user.id))
    throttle.reset(db, throttle.second_factor_key(user.id))
    if end_sessions:
        sign_out_by_admin(
            db,
            user,
            reason=AdminReason.SECOND_FACTORS_RESET,
            actor=actor,
            client_address=client_address,
        )
    else:
        end_user_sign_ins(db, user)  # SPEC V1: the user's own disable keeps the sessions
    record_event(
        db,
        user.realm_id,
        event_type,
        actor=actor,
        subject=user,
        client_address=client_address,
        detail={"was_enabled": had},
    )
    return had


def disable_two_factor(db: Session, user: User, *, client_address: str | None) -> bool:
    """The user's own Disable (SPEC D1, D2); the user is told by mail (P7)."""
    had = remove_second_factors(
        db,
        user,
        event_type="mfa.disabled",
        actor=f"user:{user.email}",
        client_address=client_address,
        end_sessions=False,
    )
    if had:
        notifications.two_factor_disabled(db, user, client_address=client_address)
    return had


def reset_second_factors(
    db: Session, user: User, *, actor: str, client_address: str | None
) -> bool:
    """An admin's or the operator's reset (SPEC A2, A3): also ends the user's SSO sessions
    and revokes their tokens. The user is told by mail (P7)."""
    had = remove_second_factors(
        db,
        user,
        event_type="admin.mfa.reset",
        actor=actor,
        client_address=client_address,
        end_sessions=True,
    )
    if had:
        notifications.two_factor_reset(db, user, actor=actor, client_address=client_address)
    return had
