"""The live server's database, for a test's setup and checks (shared by the test modules)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import select

from idp.db import get_session
from idp.models import AuditEvent

T = TypeVar("T")


def in_app(realm: Any, fn: Callable[[Any], T]) -> T:
    """Run ``fn(db)`` in the live server's app context, commit, and return its result."""
    with realm.server.app.app_context():
        db = get_session()
        result = fn(db)
        db.commit()
        return result


def audit_events(realm: Any, kind: str) -> list[AuditEvent]:
    """The realm's audit events of type ``kind``, oldest first, detached from the session."""
    with realm.server.app.app_context():
        db = get_session()
        rows = db.scalars(
            select(AuditEvent)
            .where(AuditEvent.realm_id == realm.id, AuditEvent.type == kind)
            .order_by(AuditEvent.id)
        ).all()
        db.expunge_all()
        return list(rows)
