"""The one place the code reads the time.

Every TTL, grace period and TOTP time step asks this module, so a test sets the time
(``clock.travel(days=3)``, ``clock.freeze(at)``) instead of sleeping. In production the
offset is zero and the clock is the system's.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from time import time as _system_time

_lock = threading.Lock()
_offset = 0.0
_frozen: float | None = None


def timestamp() -> float:
    """Seconds since the epoch (``time.time()`` plus any offset a test set)."""
    if _frozen is not None:
        return _frozen
    return _system_time() + _offset


def now() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.fromtimestamp(timestamp(), UTC)


def travel(**delta: float) -> None:
    """Move the clock by a ``timedelta(**delta)`` (tests only)."""
    global _offset
    with _lock:
        _offset += timedelta(**delta).total_seconds()


def freeze(at: datetime | float) -> None:
    """Stop the clock at a moment (tests only)."""
    global _frozen
    with _lock:
        _frozen = at.timestamp() if isinstance(at, datetime) else float(at)


def reset() -> None:
    """Back to the system clock."""
    global _offset, _frozen
    with _lock:
        _offset = 0.0
        _frozen = None


@contextmanager
def travelled(**delta: float) -> Iterator[None]:
    """``with clock.travelled(days=8): ...`` moves the clock for the block only."""
    travel(**delta)
    try:
        yield
    finally:
        travel(**{k: -v for k, v in delta.items()})
