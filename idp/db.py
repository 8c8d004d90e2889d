"""Database engine and sessions (SQLAlchemy 2).

One engine per app; one session per app context (``get_session``), committed by the caller.
"""

from __future__ import annotations

import contextlib
import select
import sqlite3
from datetime import UTC, datetime
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import (
    CursorResult,
    DateTime,
    Delete,
    Engine,
    MetaData,
    Update,
    create_engine,
    event,
)
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from . import clock
from .db_pool import DatabaseWaits, FailFastPool, answer_timeout_connection

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime, stored naive (UTC) so SQLite and PostgreSQL agree."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return clock.now()


#: SQLite's busy timeout when none is configured (``IDP_DB_STATEMENT_TIMEOUT=0``), and for
#: migrations.
SQLITE_DEFAULT_BUSY_SECONDS = 60


def claim_once(db: Session, statement: Update | Delete) -> bool:
    """Run a conditional UPDATE (or DELETE) and say whether this caller won it.

    The claim-once pattern: ``UPDATE ... WHERE <still unclaimed>``, or ``DELETE ... WHERE
    <still there>`` for a single-use row that is spent by removing it. Of two requests racing for
    the same row (a code spent twice, an outbox message picked by two workers), the database
    lets exactly one UPDATE match; the other sees ``rowcount == 0``. The session's identity map
    is not synchronised (the caller re-reads what it needs).
    """
    return affected_rows(db, statement.execution_options(synchronize_session=False)) == 1


def affected_rows(db: Session, statement: Update | Delete) -> int:
    """Run a bulk UPDATE or DELETE and say how many rows it changed (what a purge or a
    revocation reports). The statement's options are kept (``claim_once`` turns off the
    identity map's synchronisation; a bulk DELETE here keeps it, so the session forgets the
    rows it removed)."""
    result = db.execute(statement)
    assert isinstance(result, CursorResult)
    return result.rowcount or 0


def make_engine(
    url: str,
    *,
    connect_timeout: int = 5,
    statement_timeout: int = 0,
    pool_size: int = 0,
) -> Engine:
    """The engine for ``url``. ``connect_timeout`` bounds a new connection and the wait for a
    pooled one; ``statement_timeout`` (seconds, 0: none) bounds each statement: PostgreSQL
    cancels it (``statement_timeout``), SQLite stops waiting for a lock (``busy_timeout``).
    A pooled PostgreSQL connection is checked before use without a round trip
    (``server_hung_up``): after a database restart the pool replaces its dead connections
    by itself.

    On PostgreSQL, a database that stops answering (frozen, not refusing) costs a request at
    most the pool's wait or the connect timeout, then ``statement_timeout`` +
    ``connect_timeout`` for an answer (``db_pool.answer_timeout_connection``), then a 503. The pool
    keeps ``pool_size`` connections and opens no more (0: 10, and up to 20 more while busy);
    while all of them wait for a frozen database it refuses at once (``FailFastPool``)."""
    if url.startswith("sqlite"):
        busy_ms = 1000 * (statement_timeout or SQLITE_DEFAULT_BUSY_SECONDS)
        engine = create_engine(
            url, connect_args={"timeout": busy_ms / 1000, "check_same_thread": False}
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let the sqlite3 module stay out of transaction control, so that BEGIN
            # IMMEDIATE below takes the write lock at the start of each transaction:
            # concurrent writers then queue instead of failing with "database is locked".
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    connect_args: dict[str, Any] = {}
    if url.startswith("postgresql"):
        connect_args = postgres_connect_args(connect_timeout, statement_timeout)
    engine = create_engine(
        url,
        poolclass=FailFastPool,
        pool_size=pool_size or 10,
        max_overflow=0 if pool_size else 20,
        pool_timeout=connect_timeout or 30,
        connect_args=connect_args,
    )
    if url.startswith("postgresql+psycopg"):
        waits: DatabaseWaits = engine.pool.waits  # type: ignore[attr-defined]
        answer_timeout = statement_timeout + connect_timeout if statement_timeout else None
        connection_class = answer_timeout_connection(answer_timeout, waits)

        @event.listens_for(engine, "do_connect")
        def _connect(_dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
            with waits.waiting():
                return connection_class.connect(*cargs, **cparams)

    @event.listens_for(engine, "checkout")
    def _discard_dead(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        # The pool then drops this connection and checks out (or opens) another.
        if server_hung_up(dbapi_conn):
            raise DisconnectionError("the database closed this pooled connection")

    return engine


def server_hung_up(dbapi_conn: Any) -> bool:
    """Whether the server has closed this idle pooled connection, asked of the socket
    without a round trip (instead of ``pool_pre_ping``'s ``SELECT 1`` on every checkout).

    An idle connection of ours (no ``LISTEN``) receives nothing until it sends a query, so
    anything readable on its socket means the server hung up: a restart or shutdown sends
    the client an error and closes (FATAL ``57P01``), a killed server's OS closes the
    socket (end of file). A connection that fails later anyway (a restart between this
    check and the query) fails that request with a 503, and SQLAlchemy then invalidates
    every connection of the pool that is older than the failure."""
    if getattr(dbapi_conn, "closed", False):
        return True
    try:
        fd = dbapi_conn.fileno()
    except Exception:  # a connection that cannot say is treated as dead
        return True
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))


def postgres_connect_args(connect_timeout: int, statement_timeout: int) -> dict[str, Any]:
    """libpq parameters: the connect timeout (the whole connection set-up, also against a
    server that accepts and then never answers), the statement timeout (set per session),
    and TCP settings that notice a database host that vanished: keepalives on an idle
    connection (the first probe after 10 s, then every 5 s, dropped after 3 unanswered), and
    ``tcp_user_timeout``: a connection whose sent data stays unacknowledged for the longer
    of the two timeouts is dropped."""
    args: dict[str, Any] = {
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
    }
    if connect_timeout:
        args["connect_timeout"] = connect_timeout
        args["tcp_user_timeout"] = 1000 * max(connect_timeout, statement_timeout)
    if statement_timeout:
        args["options"] = f"-c statement_timeout={1000 * statement_timeout}"
    return args


#: SQLite's errors that mean "not now" rather than a bug (its OperationalError also covers
#: syntax errors and missing tables).
SQLITE_UNAVAILABLE = (
    "database is locked",
    "database table is locked",
    "unable to open database",
    "disk i/o error",
    "readonly database",
    "database or disk is full",
)


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database cannot answer now (refused or lost connection, a
    statement cancelled by its timeout, a locked or unreadable SQLite file, no free pooled
    connection), as opposed to a bug such as a missing table: the request then answers 503,
    not 500."""
    if isinstance(exc, PoolTimeout | DisconnectionError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OperationalError | InterfaceError):
        if isinstance(exc.orig, sqlite3.Error):
            message = str(exc.orig).lower()
            return any(text in message for text in SQLITE_UNAVAILABLE)
        return True
    return False


def init_app(
    app: Flask,
    url: str,
    *,
    connect_timeout: int = 5,
    statement_timeout: int = 0,
    pool_size: int = 0,
) -> None:
    engine = make_engine(
        url,
        connect_timeout=connect_timeout,
        statement_timeout=statement_timeout,
        pool_size=pool_size,
    )
    app.extensions["idp.engine"] = engine
    app.extensions["idp.sessionmaker"] = sessionmaker(bind=engine, expire_on_commit=False)

    @app.teardown_appcontext
    def _close_session(_exc: BaseException | None) -> None:
        session: Session | None = g.pop("db_session", None)
        if session is not None:
            rollback_quietly(session)
            session.close()


def rollback_quietly(session: Session) -> None:
    """Roll back ``session``; when its connection died with the database, the error is
    dropped (the pool replaces the connection: pre-ping, invalidation)."""
    with contextlib.suppress(SQLAlchemyError):
        session.rollback()


def ping(engine: Engine) -> None:
    """One round trip to the database (``/readyz``); raises ``OperationalError`` when it
    cannot answer. A raw connection, so SQLite takes no write lock for it."""
    dbapi_error = engine.dialect.loaded_dbapi.Error
    try:
        raw = engine.raw_connection()
    except dbapi_error as exc:  # a refused connection comes from the pool unwrapped
        raise OperationalError("connect", {}, exc) from exc
    try:
        cursor = raw.cursor()
        cursor.execute("SELECT 1")
        cursor.fetchall()
        cursor.close()
    except dbapi_error as exc:
        raw.invalidate()
        raise OperationalError("SELECT 1", {}, exc) from exc
    finally:
        raw.close()


def begin_autocommit(session: Session) -> None:
    """When ``session`` has not begun a transaction yet, begin it in autocommit mode: each
    statement is then its own transaction, without the round trips of ``BEGIN`` and
    ``COMMIT`` (or the teardown's ``ROLLBACK``). For requests that make one statement (a
    token's INSERT, an introspection's SELECT); a session that already read or wrote keeps
    its transaction, so what it does stays atomic. SQLite keeps its transactions."""
    if session.in_transaction() or session.get_bind().dialect.name != "postgresql":
        return
    session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


def database_stuck(engine: Engine) -> bool:
    """Whether the database seems not to answer this process now (``DatabaseWaits.silent``).
    Cached answers are then served as they are rather than checked against it."""
    waits: DatabaseWaits | None = getattr(engine.pool, "waits", None)
    return waits is not None and waits.silent()


def get_session() -> Session:
    """The session of the current app context (created on first use)."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["idp.sessionmaker"]()
    session: Session = g.db_session
    return session


def get_engine() -> Engine:
    engine: Engine = current_app.extensions["idp.engine"]
    return engine
