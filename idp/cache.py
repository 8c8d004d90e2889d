"""Per-process caches of what rarely changes in the database (realms, signing keys, the
discovery and JWKS documents built from them), with a cheap version check.

An entry is trusted for ``IDP_KEY_CACHE_SECONDS``. After that, the next use reads the
entry's *version* (a small query: the realm's columns, the list of key ids and states) and
rebuilds the value only when the version changed; so a change made by the CLI or another
process is seen within that many seconds, and nothing expensive (decrypting a key,
serialising a document) is redone while nothing changed.

When the version check fails because the database is unavailable
(``db.database_unavailable``), the last good value is served (stale-if-error) and checked
again after another period: discovery and JWKS keep answering during an outage.

Time comes from ``idp.clock``, so tests move it instead of sleeping. Each app has its own
caches (``app.extensions``), so two apps in one process (the tests) never share entries.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from flask import Flask, current_app

from . import clock
from .db import database_unavailable

T = TypeVar("T")


@dataclass
class _Entry(Generic[T]):
    value: T
    version: Hashable
    checked_at: float


class VersionedCache(Generic[T]):
    """``get(key, fetch, build)``: the cached value of ``key``, checked against its version
    at most every ``ttl()`` seconds."""

    def __init__(self, ttl: Callable[[], float], max_entries: int = 10_000) -> None:
        self._ttl = ttl
        self._entries: dict[Hashable, _Entry[T]] = {}
        self._lock = threading.Lock()
        self._max_entries = max_entries

    def get(
        self,
        key: Hashable,
        fetch: Callable[[], tuple[Hashable, Any]],
        build: Callable[[Any, T | None], T],
        *,
        on_unavailable: Callable[[], None] | None = None,
        stale_if_error: bool = True,
    ) -> T | None:
        """The value of ``key``. ``fetch()`` returns ``(version, data)``; a version of None
        means the thing does not exist (nothing is cached, None is returned).
        ``build(data, previous_value)`` makes the value for a new version. When ``fetch``
        fails with a database outage and a value is cached, that value is returned and
        ``on_unavailable`` (a rollback of the failed session) is called; with
        ``stale_if_error=False`` the error is raised instead (what must stop being trusted
        after the period, such as a client that may have been removed)."""
        now = clock.timestamp()
        entry = self._entries.get(key)
        if entry is not None and 0 <= now - entry.checked_at < self._ttl():
            return entry.value
        try:
            version, data = fetch()
        except Exception as exc:
            if entry is None or not stale_if_error or not database_unavailable(exc):
                raise
            if on_unavailable is not None:
                on_unavailable()
            entry.checked_at = now  # stale-if-error; the next check after another period
            return entry.value
        if version is None:
            self.forget(key)
            return None
        if entry is not None and entry.version == version:
            entry.checked_at = now
            return entry.value
        value = build(data, entry.value if entry is not None else None)
        with self._lock:
            if len(self._entries) >= self._max_entries and key not in self._entries:
                self._entries.clear()
            self._entries[key] = _Entry(value, version, now)
        return value

    def fresh(self, key: Hashable) -> T | None:
        """The cached value of ``key`` while it is within its period, else None; never asks
        the database (the fast path of ``idp.oidc.well_known`` falls through to Flask then,
        whose ``get`` checks the version)."""
        entry = self._entries.get(key)
        if entry is not None and 0 <= clock.timestamp() - entry.checked_at < self._ttl():
            return entry.value
        return None

    def peek(self, key: Hashable) -> T | None:
        """The cached value of ``key`` however old, without asking the database."""
        entry = self._entries.get(key)
        return entry.value if entry is not None else None

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def process_cache(name: str, app: Flask | None = None) -> VersionedCache[Any]:
    """The cache called ``name`` of ``app`` (default: the running app), made on first use."""
    app = app if app is not None else current_app._get_current_object()  # type: ignore[attr-defined]
    caches: dict[str, VersionedCache[Any]] = app.extensions.setdefault("idp.caches", {})
    cache = caches.get(name)
    if cache is None:
        settings = app.extensions["idp.settings"]
        cache = caches.setdefault(name, VersionedCache(lambda: settings.key_cache_seconds))
    return cache
