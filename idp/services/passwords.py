"""Password hashing with argon2id (argon2-cffi) at OWASP's parameters by default.

Every hash and verification of a process runs on one thread of its own (``_HASHING``): a
process holds at most one argon2 block (``IDP_ARGON2_MEMORY_KIB``, 19 MiB by default) instead
of one per request thread. glibc keeps a freed block of that size in the arena of the thread
that used it, so with eight request threads hashing a process grew by 8 x 19 MiB and stayed
there. One process still uses a whole core for hashing (argon2-cffi releases the GIL), and
``idp serve`` runs one process per core, so the machine's hashing ceiling is unchanged.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .context import settings
from .errors import N_

T = TypeVar("T")

_hashers: dict[tuple[int, int, int], PasswordHasher] = {}
_dummy_hashes: dict[tuple[int, int, int], str] = {}
_HASHING: ThreadPoolExecutor | None = None
_STARTING = threading.Lock()


def _forget_pool() -> None:
    global _HASHING, _STARTING
    _HASHING, _STARTING = None, threading.Lock()  # a forked child has no parent's threads


os.register_at_fork(after_in_child=_forget_pool)


def _on_hashing_thread(fn: Callable[..., T], *args: str) -> T:
    global _HASHING
    pool = _HASHING
    if pool is None:
        with _STARTING:
            if _HASHING is None:
                _HASHING = ThreadPoolExecutor(max_workers=1, thread_name_prefix="argon2")
            pool = _HASHING
    return pool.submit(fn, *args).result()


def _hasher() -> PasswordHasher:
    s = settings()
    params = (s.argon2_time_cost, s.argon2_memory_kib, s.argon2_parallelism)
    if params not in _hashers:
        _hashers[params] = PasswordHasher(
            time_cost=params[0], memory_cost=params[1], parallelism=params[2]
        )
    return _hashers[params]


def hash_password(password: str) -> str:
    return _on_hashing_thread(_hasher().hash, password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _on_hashing_thread(_hasher().verify, password_hash, password)
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
        _dummy_hashes[key] = hash_password("dummy password that matches nothing")
    verify_password(_dummy_hashes[key], password)


def validate_new_password(password: str) -> str | None:
    """Return a message if the password is unacceptable, else None."""
    if len(password) < 8:
        return N_("The password must be at least 8 characters long.")
    if len(password) > 1024:
        return N_("The password is too long.")
    return None
