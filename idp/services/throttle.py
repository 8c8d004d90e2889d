"""Failure throttling with state in the database, so every server process shares it.

A key (``2fa:user:7``) gets ``free`` failures in a row; from then on each attempt must wait
``base * 2**(failures - free)`` seconds after the last failure. An attempt during the wait is
refused without being checked (a right code too) and without counting. A success resets
the key.

SPEC L6 arithmetic: a guess at a 6-digit TOTP hits one of three accepted codes with
p = 3e-6. With 5 free attempts and a 30 s delay that doubles, a month (2.6e6 s) allows about
5 + 17 = 22 guesses: p < 7e-5, below 1 in 10,000.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..db import utcnow
from ..models import Throttle, User
from .audit import record_event
from .errors import TooManyAttempts


@dataclass(frozen=True)
class Policy:
    free: int
    base_seconds: float
    max_seconds: float
    #: Failures older than this (since the last failure) are forgotten; None: only a
    #: success (or an admin reset) clears the count.
    window_seconds: float | None = None


#: SPEC L6: counted "in a row" until a success; no decay, or the arithmetic above breaks.
SECOND_FACTOR = Policy(free=5, base_seconds=30, max_seconds=365 * 24 * 3600)
#: Passwords: per account (cleared by a success) and per client address (never cleared by a
#: success, which an attacker could produce with an account of their own, so it decays
#: after an hour without failures instead; an office behind one address is not locked out
#: for ever by old typos).
PASSWORD_ACCOUNT = Policy(free=5, base_seconds=2, max_seconds=15 * 60, window_seconds=3600)
PASSWORD_ADDRESS = Policy(free=30, base_seconds=1, max_seconds=15 * 60, window_seconds=3600)


def check_allowed(db: Session, key: str, now: datetime | None = None) -> None:
    """Raise TooManyAttempts if ``key`` is waiting out a delay. A key this transaction has
    locked (``serialize``) is answered from what the lock read: nobody else can change it."""
    now = now or utcnow()
    locked = _locked(db)
    if key in locked:
        blocked_until = locked[key][1]
    else:
        blocked_until = db.scalar(select(Throttle.blocked_until).where(Throttle.key == key))
    if blocked_until is not None and blocked_until > now:
        raise TooManyAttempts(math.ceil((blocked_until - now).total_seconds()))


def record_refusal(
    db: Session,
    realm_id: int,
    retry_after: int,
    *,
    stage: str,
    actor: str,
    subject: User | None = None,
    typed: str = "",
    client_address: str | None,
) -> None:
    """Audit an attempt the throttle refused unchecked (``login.throttled``; ``stage`` is
    ``password`` or ``second_factor``), so the log shows a brute force that goes on during a
    lock-out. ``typed`` is the address typed on the form (the subject when no account
    matches). The caller commits, as after a failure."""
    event = record_event(
        db,
        realm_id,
        "login.throttled",
        actor=actor,
        subject=subject,
        client_address=client_address,
        outcome="failure",
        detail={"stage": stage, "retry_after": retry_after},
    )
    if typed:
        event.subject = typed.strip()[:320]


def guard_second_factor(
    db: Session, realm_id: int, user: User, *, stage: str, client_address: str | None
) -> str:
    """Lock the user's second-factor counter for this transaction and refuse (audited, then
    TooManyAttempts) while its wait lasts; the counter's key for the caller's
    ``record_failure``/``reset``. Codes and security keys share it (SPEC L6, issue 10)."""
    key = second_factor_key(user.id)
    serialize(db, key)
    try:
        check_allowed(db, key)
    except TooManyAttempts as exc:
        record_refusal(
            db,
            realm_id,
            exc.retry_after,
            stage=stage,
            actor=f"user:{user.email}",
            subject=user,
            client_address=client_address,
        )
        raise
    return key


def second_factor_wait(db: Session, user: User) -> int:
    """The seconds left of ``user``'s second-factor wait (0: none), read without locking or
    recording anything: what a code page shows before a code is typed."""
    try:
        check_allowed(db, second_factor_key(user.id))
    except TooManyAttempts as exc:
        return exc.retry_after
    return 0


def serialize(db: Session, key: str) -> None:
    """Lock ``key``'s row until the caller's transaction ends, so concurrent attempts on the
    same key are checked one after the other: without it, N parallel guesses would all pass
    ``check_allowed`` before any failure is counted (SPEC L6)."""
    lock = select(Throttle.failures, Throttle.blocked_until).where(Throttle.key == key)
    row = db.execute(lock.with_for_update()).one_or_none()
    if row is None:
        _ensure_row(db, key, utcnow())
        row = db.execute(lock.with_for_update()).one()
    _locked(db)[key] = (row.failures, row.blocked_until)


def _locked(db: Session) -> dict[str, tuple[int, datetime | None]]:
    """The keys this transaction of ``db`` locked, with the failures and delay the lock
    read (so ``check_allowed`` and ``reset`` need no statement of their own for them)."""
    transaction = db.get_transaction()
    held = db.info.get("idp.throttle_locks")
    if held is None or held[0] is not transaction:
        held = (transaction, {})
        db.info["idp.throttle_locks"] = held
    return held[1]


def record_failure(db: Session, key: str, policy: Policy, now: datetime | None = None) -> int:
    """Count one failure; return the number of failures in a row."""
    now = now or utcnow()
    _ensure_row(db, key, now)
    row = db.execute(select(Throttle).where(Throttle.key == key).with_for_update()).scalar_one()
    if (
        policy.window_seconds is not None
        and row.failures
        and (now - row.updated_at) > timedelta(seconds=policy.window_seconds)
    ):
        row.failures = 0
    row.failures += 1
    row.updated_at = now
    if row.failures >= policy.free:
        exponent = min(row.failures - policy.free, 40)
        delay = min(policy.base_seconds * (2**exponent), policy.max_seconds)
        row.blocked_until = now + timedelta(seconds=delay)
    db.flush()
    _locked(db)[key] = (row.failures, row.blocked_until)
    return row.failures


def reset(db: Session, key: str) -> None:
    """Clear ``key`` after a success; nothing to write when this transaction holds its lock
    and it has no failures and no delay (the usual sign-in)."""
    locked = _locked(db)
    if locked.get(key) == (0, None):
        return
    db.execute(
        update(Throttle)
        .where(Throttle.key == key)
        .values(failures=0, blocked_until=None, updated_at=utcnow())
    )
    if key in locked:
        locked[key] = (0, None)


def _ensure_row(db: Session, key: str, now: datetime) -> None:
    if db.scalar(select(Throttle.id).where(Throttle.key == key)) is not None:
        return
    try:
        with db.begin_nested():
            db.add(Throttle(key=key, failures=0, updated_at=now))
    except IntegrityError:
        pass  # another process created it first


def second_factor_key(user_id: int) -> str:
    return f"2fa:user:{user_id}"


def password_account_key(realm_id: int, email_normalized: str) -> str:
    return f"pwd:acct:{realm_id}:{email_normalized}"


def password_address_key(address: str | None) -> str:
    return f"pwd:ip:{address or 'unknown'}"
