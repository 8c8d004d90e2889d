"""Users: creation, lookup, password sign-in (SPEC L5: one error for unknown email and
wrong password, at about the same cost)."""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ..db import utcnow
from ..models import Authenticator, Realm, User
from . import notifications, passwords, throttle
from .audit import record_event
from .crypto import random_token
from .errors import (
    AccountDisabled,
    AlreadyExists,
    InvalidCredentials,
    InvalidInput,
    TooManyAttempts,
)
from .names import check_name
from .sessions import sign_out_after_credential_change
from .trusted_browsers import void_trusts

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalize_email(email: str) -> str:
    return unicodedata.normalize("NFKC", email).strip().lower()


def create_user(
    db: Session,
    realm: Realm,
    email: str,
    password: str,
    *,
    display_name: str = "",
    is_admin: bool = False,
    email_verified: bool = False,
) -> User:
    email = email.strip()
    if not EMAIL.match(email) or len(email) > 320:
        raise InvalidInput("not an email address")
    problem = passwords.validate_new_password(password)
    if problem:
        raise InvalidInput(problem)
    display_name = check_name(display_name)  # blank: the default below
    normalized = normalize_email(email)
    if find_user_by_email(db, realm, normalized):
        raise AlreadyExists(f"a user with email {email} exists in realm {realm.name}")
    user = User(
        realm_id=realm.id,
        sub=random_token(16),
        email=email,
        email_normalized=normalized,
        display_name=display_name or email.split("@", 1)[0],
        password_hash=passwords.hash_password(password),
        is_admin=is_admin,
        email_verified=email_verified,
    )
    db.add(user)
    db.flush()
    return user


def find_user_by_email(db: Session, realm: Realm, email: str) -> User | None:
    return db.scalar(
        select(User).where(
            User.realm_id == realm.id, User.email_normalized == normalize_email(email)
        )
    )


def get_user(db: Session, realm_id: int, user_id: int) -> User | None:
    user = db.get(User, user_id)
    if user is None or user.realm_id != realm_id:
        return None
    return user


def set_password(db: Session, user: User, password: str) -> None:
    problem = passwords.validate_new_password(password)
    if problem:
        raise InvalidInput(problem)
    user.password_hash = passwords.hash_password(password)
    user.password_changed_at = utcnow()


def record_locale(user: User, locale: str | None) -> bool:
    """Remember the language the user uses the pages in (``User.locale``), so that mail to
    the user is written in it (issue 9). Returns whether it changed; the caller commits."""
    if not locale or user.locale == locale:
        return False
    user.locale = locale
    return True


def authenticate_password(
    db: Session, realm: Realm, email: str, password: str, *, client_address: str | None
) -> User:
    """Check email + password. Throttled per account and per client address.

    Raises InvalidCredentials (unknown email or wrong password alike), AccountDisabled, or
    TooManyAttempts. Commits nothing; the caller commits.
    """
    normalized = normalize_email(email)
    account_key = throttle.password_account_key(realm.id, normalized)
    address_key = throttle.password_address_key(client_address)
    throttle.serialize(db, account_key)
    try:
        throttle.check_allowed(db, address_key)
        throttle.check_allowed(db, account_key)
    except TooManyAttempts as exc:
        throttle.record_refusal(
            db,
            realm.id,
            exc.retry_after,
            stage="password",
            actor="anonymous",
            subject=find_user_by_email(db, realm, normalized),
            typed=email,
            client_address=client_address,
        )
        raise
    user = find_user_by_email(db, realm, normalized)
    if user is None or not user.password_hash:
        # An invited account has no password yet (``invitations.NO_PASSWORD``): nothing
        # matches it, at the cost and with the answer of a wrong password.
        passwords.burn_dummy_verification(password)
        ok = False
    else:
        ok = passwords.verify_password(user.password_hash, password)
    if not ok or user is None:
        throttle.record_failure(db, account_key, throttle.PASSWORD_ACCOUNT)
        throttle.record_failure(db, address_key, throttle.PASSWORD_ADDRESS)
        reason = "unknown_user" if user is None else "wrong_password"
        if user is not None and not user.password_hash:
            reason = "invitation_pending"
        _record_failed_password(db, realm, email, user, reason, client_address)
        raise InvalidCredentials()
    if user.disabled:
        _record_failed_password(db, realm, email, user, "account_disabled", client_address)
        raise AccountDisabled()
    throttle.reset(db, account_key)
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    return user


def _record_failed_password(
    db: Session,
    realm: Realm,
    typed: str,
    user: User | None,
    reason: str,
    client_address: str | None,
) -> None:
    """``login.password.failed`` with the reason (``unknown_user``, ``wrong_password``,
    ``invitation_pending``, ``account_disabled``) for the realm's log; the subject is the
    address as typed, and the password is never written."""
    event = record_event(
        db,
        realm.id,
        "login.password.failed",
        actor="anonymous",
        subject=user,
        client_address=client_address,
        outcome="failure",
        detail={"reason": reason},
    )
    event.subject = typed.strip()[:320]


def search_users(
    db: Session,
    realm: Realm,
    query: str = "",
    page: int = 1,
    per_page: int = 25,
    *,
    without_second_factor: bool = False,
    admins_only: bool = False,
) -> tuple[list[User], int]:
    """A page of the realm's users whose address or name contains ``query``, by address,
    and how many match. ``without_second_factor`` keeps those with no active authenticator
    app or security key (the console's "Not yet enrolled"), ``admins_only`` the admins."""
    stmt = select(User).where(User.realm_id == realm.id)
    if without_second_factor:
        from .factors import registry  # here: factors imports password_reset, which imports us

        stmt = stmt.where(
            ~select(Authenticator.id)
            .where(
                Authenticator.user_id == User.id,
                Authenticator.type.in_(registry.second_factor_types()),
                Authenticator.status == "active",
            )
            .exists()
        )
    if admins_only:
        stmt = stmt.where(User.is_admin.is_(True))
    if query:
        needle = query.lower()
        stmt = stmt.where(
            or_(
                User.email_normalized.contains(needle, autoescape=True),
                func.lower(User.display_name).contains(needle, autoescape=True),
            )
        )
    total = db.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = db.scalars(
        stmt.order_by(User.email_normalized).offset((page - 1) * per_page).limit(per_page)
    ).all()
    return list(rows), total


def change_password(
    db: Session,
    user: User,
    current: str,
    new: str,
    *,
    keep_sid: str | None,
    client_address: str | None,
) -> None:
    """The user's own password change: the current password is checked the way sign-in
    checks it (same throttles, same errors), the new one must pass the password rules, and
    every other session of the user ends with its tokens, as when a password leaks. The
    session ``keep_sid`` stays signed in. Audited, and the user is told by mail; the caller
    commits."""
    realm = db.get(Realm, user.realm_id)
    assert realm is not None
    authenticate_password(db, realm, user.email, current, client_address=client_address)
    set_password(db, user, new)
    sign_out_after_credential_change(db, user, keep_sid=keep_sid)
    void_trusts(db, user)  # SPEC P8: a password change ends every trusted browser
    record_event(
        db,
        user.realm_id,
        "account.password.changed",
        actor=f"user:{user.email}",
        subject=user,
        client_address=client_address,
    )
    notifications.password_changed(db, user, client_address=client_address)  # SPEC P7
