"""The frames every second factor runs in, written once (allauth's ``internal/flows.py``):

- ``throttled_attempt``: the shared per-account second-factor throttle (SPEC L6), the audit
  of a failure (``login.second_factor.failed``) and the mail at the start of a lock-out, around
  whatever checks the answer. ``check_second_factor`` runs a registered factor's ``verify``
  in it; a passkey sign-in (``key_assertions.verify_passkey``) uses it too.
- ``enable_factor``: enrol a factor, and when it turns 2FA on (or starts a new generation)
  issue the backup codes, end the user's other sessions, audit, and tell the user (SPEC E5,
  E7, B4, P7, V1).

Each works in the caller's transaction; the caller commits in the failure case as well, so
the counter and the audit event persist.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.orm import Session

from ...models import Authenticator, Realm, User
from .. import backup_codes, notifications, password_reset, throttle
from ..audit import record_event
from ..errors import InvalidCode
from ..sessions import sign_out_after_credential_change
from ..trusted_browsers import void_trusts
from .base import SecondFactor
from .status import has_second_factor


@contextmanager
def throttled_attempt(
    db: Session,
    realm: Realm,
    user: User,
    *,
    method: str,
    stage: str,
    client_address: str | None,
    locale: str | None = None,
    tell_lockout: bool = True,
) -> Iterator[None]:
    """Refuse (audited, TooManyAttempts) while the user's second-factor wait lasts; count and
    audit an InvalidCode raised in the block as ``method`` and re-raise it; reset the counter
    when the block succeeds. With ``tell_lockout`` the user is mailed (in ``locale``) when the
    failures reach the free ones and the wait starts."""
    key = throttle.guard_second_factor(
        db, realm.id, user, stage=stage, client_address=client_address
    )
    try:
        yield
    except InvalidCode as exc:
        failures = throttle.record_failure(db, key, throttle.SECOND_FACTOR)
        record_event(
            db,
            realm.id,
            "login.second_factor.failed",
            actor=f"user:{user.email}",
            subject=user,
            client_address=client_address,
            outcome="failure",
            detail={"method": method, "reason": type(exc).__name__, "failures_in_row": failures},
        )
        if tell_lockout and failures == throttle.SECOND_FACTOR.free:  # the wait starts now
            password_reset.notify_lockout(
                db,
                realm,
                user,
                client_address=client_address,
                retry_after=int(throttle.SECOND_FACTOR.base_seconds),
                locale=locale,
            )
        raise
    throttle.reset(db, key)


def check_second_factor(
    db: Session,
    realm: Realm,
    user: User,
    factor: SecondFactor,
    response: object,
    *,
    binding: str,
    client_address: str | None,
    locale: str | None,
) -> list[str]:
    """``factor.verify`` in the throttled frame, then its ``after_verified``; the ``amr`` the
    answer proved."""
    with throttled_attempt(
        db,
        realm,
        user,
        method=factor.labels.method,
        stage="second_factor",
        client_address=client_address,
        locale=locale,
    ):
        amr = factor.verify(
            db, realm, user, response, binding=binding, client_address=client_address
        )
    factor.after_verified(db, realm, user, client_address=client_address, locale=locale)
    return list(amr)


@dataclass
class Enabled:
    row: Authenticator
    #: The plain backup codes when the enrolment issued a new set (shown once), else None.
    codes: list[str] | None
    #: What enrolling proved (RFC 8176).
    amr: tuple[str, ...]


def enable_factor(
    db: Session,
    realm: Realm,
    user: User,
    factor: SecondFactor,
    response: object,
    *,
    binding: str = "",
    name: object = None,
    actor: str,
    client_address: str | None,
    keep_sid: str | None,
) -> Enabled:
    """Enrol ``factor`` and run what follows it. The first factor of a user (2FA turns on),
    or an enrolment that starts a new generation, brings a new set of backup codes (every
    earlier code stops working), ends every other SSO session of the user but ``keep_sid``
    and revokes their tokens (a session that signed in without the new factor would keep
    getting tokens), and is mailed to the user in one message with the codes' news (P7). A
    new generation also ends every trusted browser (P8)."""
    earlier = has_second_factor(db, user)
    enrolment = factor.enrol(db, realm, user, response, binding=binding, name=name)
    if enrolment.new_generation:
        void_trusts(db, user)  # the trusts were bound to the earlier generation
    codes: list[str] | None = None
    if enrolment.new_generation or not earlier:
        codes = backup_codes.issue_backup_codes(db, user)
        # Every other sign-in ends too, even one that proved an earlier factor or an old
        # backup code (SPEC V1); the sign-in enrolling, if any, re-records the generation.
        sign_out_after_credential_change(db, user, keep_sid=keep_sid)
    event_type = factor.labels.enabled
    if event_type is not None:
        record_event(
            db,
            user.realm_id,
            event_type,
            actor=actor,
            subject=user,
            client_address=client_address,
            detail={**enrolment.detail, "first_factor": not earlier},
        )
    if codes is not None:
        record_event(
            db,
            user.realm_id,
            "mfa.backup_codes.issued",
            actor=actor,
            subject=user,
            client_address=client_address,
        )
        # SPEC P7: one message; the backup codes that come with the factor are part of it.
        notifications.two_factor_enabled(
            db,
            user,
            replaced=enrolment.replaced,
            earlier_codes=earlier,
            client_address=client_address,
        )
    return Enabled(enrolment.row, codes, enrolment.amr)
