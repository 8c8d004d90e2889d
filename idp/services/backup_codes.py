"""Backup codes (SPEC B1-B7): 10 codes of 8 digits from ``secrets``, each usable once,
stored as HMAC-SHA256 under a key kept outside the database, consumed by a conditional
UPDATE so that one code signs in exactly once even when submitted concurrently."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from ..db import claim_once, utcnow
from ..models import Authenticator, BackupCode, User
from .context import settings
from .crypto import keyed_digest
from .errors import InvalidCode

COUNT = 10
DIGITS = 8
LOW_WATERMARK = 3
_CODE = re.compile(r"[0-9]{8}", re.ASCII)


def parse_backup_code(raw: object) -> str:
    """Exactly 8 ASCII digits; one documented separator form ``1234-5678`` is accepted."""
    if not isinstance(raw, str):
        raise InvalidCode("a backup code is 8 digits")
    if len(raw) == 9 and raw[4] == "-":
        raw = raw[:4] + raw[5:]
    if not _CODE.fullmatch(raw):
        raise InvalidCode("a backup code is 8 digits")
    return raw


def format_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


def _digest(user_id: int, code: str) -> str:
    return keyed_digest(settings().code_pepper, f"backup:{user_id}:{code}")


def delete_backup_codes(db: Session, user: User) -> None:
    """Invalidate every backup code of the user, used or not (B3, B4)."""
    db.execute(
        delete(Authenticator).where(
            Authenticator.user_id == user.id, Authenticator.type == "backup_codes"
        )
    )


def issue_backup_codes(db: Session, user: User) -> list[str]:
    """Replace the user's backup codes by a new set; return the plain codes (shown once)."""
    delete_backup_codes(db, user)
    holder = Authenticator(realm_id=user.realm_id, user_id=user.id, type="backup_codes")
    db.add(holder)
    db.flush()
    codes: list[str] = []
    while len(codes) < COUNT:
        code = f"{secrets.randbelow(10**DIGITS):0{DIGITS}d}"
        if code not in codes:
            codes.append(code)
    db.add_all(
        BackupCode(
            authenticator_id=holder.id,
            user_id=user.id,
            digest=_digest(user.id, c),
            number=number,
        )
        for number, c in enumerate(codes, start=1)
    )
    db.flush()
    return codes


def consume_backup_code(db: Session, user: User, raw_code: object) -> None:
    """Mark one unused code of the user as used, atomically, or raise InvalidCode."""
    code = parse_backup_code(raw_code)
    claimed = claim_once(
        db,
        update(BackupCode)
        .where(
            BackupCode.digest == _digest(user.id, code),
            BackupCode.user_id == user.id,
            BackupCode.used_at.is_(None),
        )
        .values(used_at=utcnow()),
    )
    if not claimed:
        raise InvalidCode("wrong or used backup code")


def count_unused(db: Session, user_id: int) -> int:
    return (
        db.scalar(
            select(func.count(BackupCode.id)).where(
                BackupCode.user_id == user_id, BackupCode.used_at.is_(None)
            )
        )
        or 0
    )


def numbered_current_codes(db: Session, user: User, raw_codes: list[str]) -> list[tuple[int, str]]:
    """The unused codes of the user's current set among ``raw_codes`` (as posted back by a
    page that showed them), each with its number in the set, in the set's order. Codes of
    an earlier set, used codes and anything malformed are left out; nothing is consumed."""
    found: dict[int, str] = {}
    for position, raw in enumerate(raw_codes[:COUNT], start=1):
        try:
            code = parse_backup_code(raw)
        except InvalidCode:
            continue
        row = db.scalar(
            select(BackupCode).where(
                BackupCode.digest == _digest(user.id, code),
                BackupCode.user_id == user.id,
                BackupCode.used_at.is_(None),
            )
        )
        if row is not None:
            found[row.number or position] = code
    return sorted(found.items())


@dataclass(frozen=True)
class CodeUse:
    """One code of the current set as the 2FA page lists it: its number and when it was
    used (None while unused). The code itself is never kept in clear (SPEC B7)."""

    number: int
    used_at: datetime | None


def current_set(db: Session, user: User) -> list[CodeUse]:
    """The numbers of the user's current set with their use, in order (a set issued before
    codes were numbered gets its numbers in the order it was stored)."""
    rows = db.scalars(
        select(BackupCode)
        .where(BackupCode.user_id == user.id)
        .order_by(BackupCode.number, BackupCode.id)
    ).all()
    return [
        CodeUse(number=row.number or position, used_at=row.used_at)
        for position, row in enumerate(rows, start=1)
    ]


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+", re.ASCII)


def download_filename(realm_name: str, account: str) -> str:
    """The file name of a download: ``backup-codes-<realm>-<account>.txt`` in safe
    characters only (``alice@example.com`` -> ``alice-example.com``)."""

    def safe(value: str) -> str:
        return _UNSAFE.sub("-", value).strip(".-")[:64] or "x"

    return f"backup-codes-{safe(realm_name)}-{safe(account)}.txt"
