"""What a second factor is to the rest of the provider: one protocol (as Keycloak's
authenticator SPI or django-allauth's ``mfa`` adapters), so that the sign-in, the account
pages and the resets work on any factor the registry holds without naming it.

A factor keeps its rows in the one ``Authenticator`` table under its ``row_type`` (allauth's
one model for all factors); that is how ``has_second_factor`` and the resets find every
factor of a user in one query. The shared frames around a factor (throttle, audit, notify,
backup codes) are in ``frames``: a factor only says what is particular to it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sqlalchemy.orm import Session

from ...models import Authenticator, Realm, User


def audit_event(*, event_type: str) -> str:
    """Name an audit event type a factor records (``audit_event(event_type="mfa.x.enabled")``).
    The check that every recorded type has its label in ``audit.EVENT_TYPES``
    (``tests/test_console_pages.py``) finds the types by this keyword."""
    return event_type


@dataclass(frozen=True)
class AuditLabels:
    """The audit vocabulary of a factor (event types read like paths, ``mfa.totp.enabled``)."""

    #: ``detail.method`` of ``login.second_factor.failed``: what the user tried.
    method: str
    #: The event of a successful enrolment (``mfa.totp.enabled``), or None (not enrolled);
    #: each type is named with ``audit_event``.
    enabled: str | None = None
    #: The event of removing one of the user's factor rows, or None.
    removed: str | None = None


@dataclass
class Enrolment:
    """What ``SecondFactor.enrol`` saved, for the ``enable_factor`` frame."""

    #: The factor's new row (active).
    row: Authenticator
    #: What enrolling proved (RFC 8176), for an enrolment inside the sign-in.
    amr: tuple[str, ...]
    #: It replaced an earlier factor of the same kind (told to the user, audited).
    replaced: bool = False
    #: The enrolment starts a new generation of the user's second factors even though 2FA
    #: was on already: the trusted browsers, backup codes and other sessions of the earlier
    #: generation end (the authenticator app, SPEC E5, E7, B4, P8). A factor that adds to a
    #: set (a second security key) leaves them.
    new_generation: bool = False
    #: The ``detail`` of the factor's ``enabled`` audit event.
    detail: dict[str, Any] = field(default_factory=dict)


class SecondFactor(ABC):
    """One kind of second factor. Subclasses set the class attributes and implement
    ``is_set_up``, ``verify`` and ``enrol``; the rest has defaults.

    Every method works in the caller's transaction and never commits. Failures are the
    narrow service exceptions: ``InvalidCode`` (and its subclasses) for a wrong answer,
    which the ``check_second_factor`` frame counts in the throttle and audits.
    """

    #: The ``kind`` that ``verify_second_factor`` is called with (``totp``).
    kind: ClassVar[str]
    #: ``Authenticator.type`` of the factor's rows, when an active row turns 2FA on (what
    #: ``has_second_factor`` counts); None for a fallback that only stands in for another
    #: factor (backup codes).
    row_type: ClassVar[str | None] = None
    #: The ``amr`` values (RFC 8176, ``idp.assurance``) a successful check proves at least;
    #: ``verify`` returns what a given check proved (a key may add ``user``).
    amr: ClassVar[tuple[str, ...]]
    labels: ClassVar[AuditLabels]

    @abstractmethod
    def is_set_up(self, db: Session, user: User) -> bool:
        """Whether the user can answer this factor now."""

    def challenge(self, db: Session, realm: Realm, user: User, *, binding: str) -> str | None:
        """What the sign-in page hands the browser before the answer (a WebAuthn request's
        options as JSON), bound to ``binding``; None for a factor the user types."""
        return None

    @abstractmethod
    def verify(
        self,
        db: Session,
        realm: Realm,
        user: User,
        response: object,
        *,
        binding: str,
        client_address: str | None,
    ) -> tuple[str, ...]:
        """Check the user's answer; return the ``amr`` it proved. Raise InvalidCode (or a
        subclass) when it is wrong. Throttling and the failure's audit are the frame's."""

    def after_verified(  # noqa: B027 (a hook: most factors need nothing after a success)
        self,
        db: Session,
        realm: Realm,
        user: User,
        *,
        client_address: str | None,
        locale: str | None,
    ) -> None:
        """Side effects of a successful check beyond resetting the throttle (a used backup
        code is audited and mailed)."""

    @abstractmethod
    def enrol(
        self,
        db: Session,
        realm: Realm,
        user: User,
        response: object,
        *,
        binding: str,
        name: object,
    ) -> Enrolment:
        """Verify the user's enrolment answer and save the factor (active). Raise
        InvalidCode, InvalidInput or NotFound. Backup codes, sessions, notification and
        audit are the ``enable_factor`` frame's."""

    def remove(self, db: Session, user: User, row: Authenticator) -> None:
        """Delete one of the user's rows of this factor (removing every factor at once is
        ``remove_second_factors``: one statement over the one table)."""
        db.delete(row)
        db.flush()
