"""Round trips of a password sign-in (issue 8: "fewer round trips per sign-in"): the
throttle's rows are read once, under the lock the check needs (SPEC L6), and a success on
an account without failures writes nothing to them. A success after failures still clears
them (the counting itself is tests/test_throttle.py and tests/test_concurrency.py)."""

from __future__ import annotations

import pytest

from idp.db import get_session
from idp.models import Realm, Throttle
from idp.services import throttle
from idp.services.errors import InvalidCredentials
from idp.services.users import authenticate_password
from tests.support.queries import counted_queries

ADDRESS = "203.0.113.9"


def _sign_in(app, realm, email: str, password: str) -> list[str]:
    with app.app_context(), counted_queries(app) as queries:
        db = get_session()
        try:
            authenticate_password(
                db, db.get(Realm, realm.id), email, password, client_address=ADDRESS
            )
        finally:
            db.commit()
    return [q for q in queries if "throttle" in q]


def test_a_returning_accounts_sign_in_reads_the_throttle_twice_and_writes_nothing(realm, app):
    user = realm.user()
    _sign_in(app, realm, user.email, user.password)  # the rows exist from now on
    statements = _sign_in(app, realm, user.email, user.password)
    assert len(statements) == 2, statements
    # The account's row, locked (PostgreSQL; SQLite's BEGIN IMMEDIATE holds the whole
    # database) and read at once.
    assert statements[0].startswith("SELECT throttle.failures, throttle.blocked_until")
    if app.extensions["idp.engine"].dialect.name == "postgresql":
        assert "FOR UPDATE" in statements[0]
    assert not any(s.startswith(("UPDATE", "INSERT")) for s in statements)


def test_a_success_after_failures_still_clears_the_account_counter(realm, app):
    user = realm.user()
    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            _sign_in(app, realm, user.email, "wrong password")
    statements = _sign_in(app, realm, user.email, user.password)
    assert any(s.startswith("UPDATE throttle") for s in statements)
    with app.app_context():
        key = throttle.password_account_key(realm.id, user.email.lower())
        row = get_session().query(Throttle).filter_by(key=key).one()
        assert row.failures == 0 and row.blocked_until is None
