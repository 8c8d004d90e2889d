"""Password hashing with argon2id (argon2-cffi) at OWASP's parameters by default."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .context import settings
from .errors import N_

_hashers: dict[tuple[int, int, int], PasswordHasher] = {}
_dummy_hashes: dict[tuple[int, int, int], str] = {}


def _hasher() -> PasswordHasher:
    s = settings()
    params = (s.argon2_time_cost, s.argon2_memory_kib, s.argon2_parallelism)
    if params not in _hashers:
        _hashers[params] = PasswordHasher(
            time_cost=params[0], memory_cost=params[1], parallelism=params[2]
        )
    return _hashers[params]


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher().check_needs_rehash(password_hash)


def burn_dummy_verification(password: str) -> None:
    """Spend the time of one verification, so an unknown email answers as slowly as a wrong
    password does."""
    h = _hasher()
    key = (h.time_cost, h.memory_cost, h.parallelism)
    if key not in _dummy_hashes:
        _dummy_hashes[key] = h.hash("dummy password that matches nothing")
    verify_password(_dummy_hashes[key], password)


def validate_new_password(password: str) -> str | None:
    """Return a message if the password is unacceptable, else None."""
    if len(password) < 8:
        return N_("The password must be at least 8 characters long.")
    if len(password) > 1024:
        return N_("The password is too long.")
    return None
