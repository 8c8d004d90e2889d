"""The pool's check of a PostgreSQL connection before use (idp/db.py ``server_hung_up``):
without a round trip (issue 8: pool_pre_ping's ``SELECT 1`` on every checkout was a round
trip per request), and still replacing a connection the server closed, so that the provider
recovers by itself after a restart (the full outage test is tests/test_outage.py)."""

from __future__ import annotations

import os
import time

import pytest
from sqlalchemy import text

from idp.db import make_engine, server_hung_up

URL = os.environ.get("IDP_TEST_DATABASE_URL", "")
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not URL.startswith("postgresql"), reason="PostgreSQL only (IDP_TEST_DATABASE_URL)"
    ),
]


def _backend_pid(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def test_a_connection_closed_by_the_server_is_replaced_at_checkout_without_an_error():
    engine = make_engine(URL, connect_timeout=2)
    admin = make_engine(URL, connect_timeout=2)
    try:
        assert not engine.pool._pre_ping
        first = _backend_pid(engine)
        assert _backend_pid(engine) == first  # the pooled connection is reused
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        time.sleep(0.2)  # the server's goodbye reaches the socket
        # The next checkout notices and opens a new connection: no error for the caller.
        second = _backend_pid(engine)
        assert second != first
        assert _backend_pid(engine) == second
    finally:
        engine.dispose()
        admin.dispose()


def test_a_live_idle_connection_is_not_taken_for_dead():
    engine = make_engine(URL, connect_timeout=2)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            raw = conn.connection.dbapi_connection
        assert raw is not None and not server_hung_up(raw)
        raw.close()
        assert server_hung_up(raw)
    finally:
        engine.dispose()
