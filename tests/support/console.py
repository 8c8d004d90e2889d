"""Reading the console's pages in HTTP tests: the audit log's table."""

from __future__ import annotations

import html
import re

from tests.helpers import Page


def audit_rows(page: Page) -> list[dict[str, str]]:
    """The audit table's rows: the cells' text, with the event type, the outcome and the
    actor as recorded (``data-type``, ``data-outcome``, ``data-actor``; the page shows them
    in words, the actor's as ``actor_shown``). A page without events says so (``p.empty``)
    and gives []."""
    body = re.search(r'<table id="events"[^>]*>.*?<tbody>(.*?)</tbody>', page.text, re.S)
    if body is None:
        assert 'class="empty"' in page.text, page.text
        return []
    rows = []
    for kind, outcome, recorded_actor, tr in re.findall(
        r'<tr data-type="([^"]*)" data-outcome="([^"]*)" data-actor="([^"]*)">(.*?)</tr>',
        body.group(1),
        re.S,
    ):
        cells = [
            " ".join(html.unescape(re.sub(r"<[^>]+>", " ", c.replace("<wbr>", ""))).split())
            for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)
        ]
        time, _event, actor, subject, address, _outcome, detail = cells
        rows.append(
            dict(
                time=time,
                type=html.unescape(kind),
                actor=html.unescape(recorded_actor),
                actor_shown=actor,
                subject=subject,
                address=address,
                outcome=outcome,
                detail=detail,
            )
        )
    return rows
