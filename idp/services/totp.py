"""TOTP second factor (RFC 6238: SHA-1, 6 digits, 30 s steps; SPEC E6, L2).

Codes of the previous, current and next time step are accepted (no wider). Replay is refused
atomically: the last accepted step is stored per authenticator and a conditional UPDATE
accepts a code only if its step is newer, so of N concurrent submissions of one valid code
exactly one succeeds, and after step N succeeded, step N-1's code is refused too.
"""

from __future__ import annotations

import hmac
import re

import pyotp
from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from .. import clock
from ..db import claim_once, utcnow
from ..models import Authenticator
from .context import cipher
from .errors import CodeReplayed, InvalidCode

DIGITS = 6
INTERVAL = 30
WINDOW = 1  # previous and next step (SPEC L2)
#: Six ASCII digits, as typed, or as apps show them: two groups of three with one space or
#: hyphen between (``123 456``, ``123-456``; SPEC L2).
_CODE = re.compile(r"([0-9]{3})[ -]?([0-9]{3})", re.ASCII)


def parse_totp_code(raw: object) -> str:
    """The six digits of a security code. Exactly one space or hyphen between the two groups
    of three is dropped; anything else is refused: full-width or other scripts' digits,
    underscores or signs that ``int()`` would accept, two separators, a separator elsewhere,
    surrounding whitespace."""
    match = _CODE.fullmatch(raw) if isinstance(raw, str) else None
    if match is None:
        raise InvalidCode("a security code is 6 digits")
    return match.group(1) + match.group(2)


def new_totp_secret() -> str:
    return pyotp.random_base32(32)  # 160 bits, RFC 4226's recommended key length


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL).provisioning_uri(
        name=account, issuer_name=issuer
    )


def group_key(secret: str) -> str:
    """The key as shown for manual entry: groups of four (SPEC E3)."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def time_step(at: float | None = None) -> int:
    return int((clock.timestamp() if at is None else at) // INTERVAL)


def matching_step(secret: str, code: str, at: float | None = None) -> int | None:
    """The time step (T-1, T or T+1) whose code equals ``code``, compared in constant time."""
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL)
    now_step = time_step(at)
    found: int | None = None
    for step in range(now_step - WINDOW, now_step + WINDOW + 1):
        candidate = totp.at(step * INTERVAL)
        if hmac.compare_digest(candidate.encode(), code.encode()) and found is None:
            found = step
    return found


def verify_totp(
    db: Session, authenticator: Authenticator, raw_code: object, at: float | None = None
) -> int:
    """Verify a code for an authenticator and consume its time step atomically.

    Returns the accepted step. Raises InvalidCode (wrong or malformed) or CodeReplayed (the
    step is not newer than the last accepted one).
    """
    code = parse_totp_code(raw_code)
    secret = cipher().decrypt(authenticator.secret_encrypted or "")
    step = matching_step(secret, code, at)
    if step is None:
        raise InvalidCode("wrong security code")
    claimed = claim_once(
        db,
        update(Authenticator)
        .where(
            Authenticator.id == authenticator.id,
            or_(Authenticator.last_step.is_(None), Authenticator.last_step < step),
        )
        .values(last_step=step, last_used_at=utcnow()),
    )
    if not claimed:
        raise CodeReplayed("this security code was used already")
    return step
