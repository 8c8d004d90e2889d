"""The connection pool's defence against a database that stops answering (SPEC V8): which
threads wait for the server and since when (``DatabaseWaits``), a pool that refuses at once
while all its connections wait on a silent server (``FailFastPool``), and a psycopg
connection whose every wait for an answer is bounded (``answer_timeout_connection``)."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import QueuePool

#: Seconds after which a thread waiting for the database's answer (or for a new connection)
#: counts as stuck. When as many threads as the pool has connections are stuck, the
#: database has stopped answering (frozen): a request that needs a connection then answers
#: 503 at once instead of waiting ``pool_timeout``, so the spare request thread of
#: ``idp serve`` stays free for ``/healthz`` and cached answers. A live database answers
#: well within it, or the pool is not full.
POOL_STUCK_AFTER = 1.0
#: Slices of the wait for a pooled connection, between two looks at ``stuck``.
_POOL_WAIT_SLICE = 0.1


#: Seconds a wait that got no answer at all keeps the database counted as not answering
#: (``DatabaseWaits.silent``), unless an answer comes first.
SILENCE_REMEMBERED = 10.0


class DatabaseWaits:
    """The threads of one engine that are waiting for the database server now (an answer,
    or a new connection), and since when; and when a wait last ended without an answer."""

    def __init__(self) -> None:
        self._since: dict[int, float] = {}
        self._lock = threading.Lock()
        self._unanswered_at: float | None = None

    @contextlib.contextmanager
    def waiting(self) -> Any:
        key = threading.get_ident()
        started = time.monotonic()
        with self._lock:
            self._since[key] = started
        try:
            yield
        except Exception:
            if time.monotonic() - started > POOL_STUCK_AFTER:  # timed out, not refused
                self._unanswered_at = time.monotonic()
            raise
        else:
            self._unanswered_at = None
        finally:
            with self._lock:
                self._since.pop(key, None)

    def stuck(self, at_least: int) -> bool:
        """Whether ``at_least`` threads have waited longer than ``POOL_STUCK_AFTER``."""
        limit = time.monotonic() - POOL_STUCK_AFTER
        with self._lock:
            return sum(1 for since in self._since.values() if since < limit) >= at_least

    def silent(self) -> bool:
        """Whether the database seems not to answer now: a thread has waited longer than
        ``POOL_STUCK_AFTER``, or a wait ended without an answer less than
        ``SILENCE_REMEMBERED`` seconds ago and none has been answered since."""
        unanswered = self._unanswered_at
        if unanswered is not None and time.monotonic() - unanswered < SILENCE_REMEMBERED:
            return True
        return self.stuck(1)


class FailFastPool(QueuePool):
    """A ``QueuePool`` that refuses at once, rather than after ``pool_timeout``, while every
    one of its connections waits for a database that stopped answering (V8): it waits for a
    free connection in slices and looks at ``DatabaseWaits`` between them."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.waits = DatabaseWaits()
        self._slice = threading.local()

    # QueuePool reads ``_timeout`` for each wait: this thread's slice while one is set.
    @property
    def _timeout(self) -> float:
        return getattr(self._slice, "value", None) or self._configured_timeout

    @_timeout.setter
    def _timeout(self, value: float) -> None:
        self._configured_timeout = value

    def _capacity(self) -> int:
        return self.size() + max(self._max_overflow, 0)

    def _do_get(self) -> Any:
        if getattr(self._slice, "value", None) is not None:  # QueuePool's own retry
            return super()._do_get()
        deadline = time.monotonic() + self._configured_timeout
        while True:
            if self._max_overflow >= 0 and self.waits.stuck(self._capacity()):
                raise PoolTimeout(
                    "every pooled connection waits for a database that does not answer"
                )
            self._slice.value = max(0.001, min(_POOL_WAIT_SLICE, deadline - time.monotonic()))
            try:
                return super()._do_get()
            except PoolTimeout:
                if time.monotonic() >= deadline:
                    raise
            finally:
                self._slice.value = None

    def recreate(self) -> FailFastPool:
        pool = super().recreate()
        assert isinstance(pool, FailFastPool)
        pool.waits = self.waits
        return pool


def answer_timeout_connection(seconds: float | None, waits: DatabaseWaits) -> type[Any]:
    """A psycopg connection class whose every wait for the server (a query's answer, a
    commit's, a rollback's) ends after ``seconds`` (None: no limit), and is recorded in
    ``waits``: the server's own ``statement_timeout`` only works while the server runs. A
    wait that expires closes the connection (its protocol state is unknown) and raises
    ``OperationalError``: the request answers 503 and the pool replaces the connection."""
    import psycopg
    from psycopg import errors

    class AnswerTimeoutConnection(psycopg.Connection):
        def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
            try:
                with waits.waiting():
                    return super().wait(gen, interval, seconds if timeout is None else timeout)
            except errors._WaitTimeout as exc:  # psycopg's own timeout
                self.pgconn.finish()
                raise psycopg.OperationalError(
                    f"the database did not answer within {seconds:g} s"
                ) from exc

    return AnswerTimeoutConnection
