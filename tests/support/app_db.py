"""The live server's database, for a test's setup and checks (shared by the test modules)."""

from __future__ import annotations

from typing import Any

from idp.db import get_session


def in_app(realm: Any, fn: Any) -> Any:
    """Run ``fn(db)`` in the live server's app context, commit, and return its result."""
    with realm.server.app.app_context():
        db = get_session()
        result = fn(db)
        db.commit()
        return result
