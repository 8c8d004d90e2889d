"""Second factors: a registry of factors behind one protocol (``base.SecondFactor``), the
frames they share (``frames``: throttle, verify, audit a failure; enable, issue codes,
notify, audit), and the flows the pages, the console and the CLI call. Each flow owns its
side effects in one function, in the caller's transaction.

The built-in factors: the authenticator app (``totp``), security keys and passkeys
(``security_keys``) and backup codes (``backup_codes``, a fallback). A new factor is a module
here with a ``SecondFactor`` subclass, one ``registry.register`` line below, and its pages.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from ...models import Realm, User
from . import registry
from .backup_codes import BACKUP_CODES, regenerate_backup_codes
from .base import AuditLabels, Enrolment, SecondFactor, audit_event
from .frames import Enabled, check_second_factor, enable_factor, throttled_attempt
from .removal import disable_two_factor, remove_second_factors, reset_second_factors
from .security_keys import SECURITY_KEYS
from .status import TwoFactorStatus, has_second_factor, two_factor_status, two_factor_statuses
from .totp import (
    TOTP,
    active_totp,
    enable_totp,
    pending_secret,
    pending_totp,
    start_totp_enrolment,
)

registry.register(TOTP)
registry.register(SECURITY_KEYS)
registry.register(BACKUP_CODES)

#: The ``Authenticator.type`` values of the built-in factors that turn 2FA on (for a query
#: built at import; ``registry.second_factor_types()`` also has factors registered later).
FACTOR_TYPES = registry.second_factor_types()


def verify_second_factor(
    db: Session,
    realm: Realm,
    user: User,
    raw_code: object,
    *,
    kind: str,
    client_address: str | None,
    binding: str | None = None,
    locale: str | None = None,
) -> list[str]:
    """Check a sign-in answer of the factor registered as ``kind`` (``totp``,
    ``backup_code``, or ``webauthn``: a security key's response to a challenge issued for
    ``binding``) in the shared frame (``check_second_factor``: the per-account throttle,
    SPEC L6, failures audited, A4). Returns the ``amr`` values the check proved (RFC 8176).
    A used backup code is mailed to the user (P7) in ``locale``, the sign-in's language.

    Raises TooManyAttempts, InvalidCode (or CodeReplayed, or a SecurityKeyRefused), or
    ValueError for an unknown kind. The caller must commit in both the success and the
    failure case so the counter and the audit event persist.
    """
    return check_second_factor(
        db,
        realm,
        user,
        registry.get(kind),
        raw_code,
        binding=binding or "",
        client_address=client_address,
        locale=locale,
    )


__all__ = [
    "FACTOR_TYPES",
    "AuditLabels",
    "Enabled",
    "Enrolment",
    "SecondFactor",
    "TwoFactorStatus",
    "active_totp",
    "audit_event",
    "check_second_factor",
    "disable_two_factor",
    "enable_factor",
    "enable_totp",
    "has_second_factor",
    "pending_secret",
    "pending_totp",
    "regenerate_backup_codes",
    "registry",
    "remove_second_factors",
    "reset_second_factors",
    "start_totp_enrolment",
    "throttled_attempt",
    "two_factor_status",
    "two_factor_statuses",
    "verify_second_factor",
]
