"""Counting the SQL statements an app runs (issue 8: round trips per request)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event


@contextmanager
def counted_queries(app: Any) -> Iterator[list[str]]:
    """The statements the app's engine runs inside the block (SQLite's BEGIN left out)."""
    seen: list[str] = []
    engine = app.extensions["idp.engine"]

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.startswith("BEGIN"):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
