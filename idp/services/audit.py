"""The realm's audit log (SPEC A4)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from ..models import AuditEvent, User


def actor_for(user: User | None, *, admin: bool = False) -> str:
    if user is None:
        return "anonymous"
    return f"{'admin' if admin else 'user'}:{user.email}"


OPERATOR = "operator"


def record_event(
    db: Session,
    realm_id: int,
    type: str,
    *,
    actor: str,
    subject: User | None = None,
    client_address: str | None = None,
    outcome: str = "success",
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    event = AuditEvent(
        realm_id=realm_id,
        type=type,
        actor=actor,
        subject_user_id=subject.id if subject else None,
        subject=subject.email if subject else "",
        client_address=client_address,
        outcome=outcome,
        detail=detail or {},
    )
    db.add(event)
    return event


def list_events(
    db: Session,
    realm_id: int,
    *,
    subject: str | None = None,
    type_prefix: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[AuditEvent], int]:
    query: Select[tuple[AuditEvent]] = select(AuditEvent).where(AuditEvent.realm_id == realm_id)
    if subject:
        query = query.where(
            func.lower(AuditEvent.subject).contains(subject.lower(), autoescape=True)
        )
    if type_prefix:
        query = query.where(AuditEvent.type.startswith(type_prefix, autoescape=True))
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.scalars(
        query.order_by(AuditEvent.id.desc()).offset((page - 1) * per_page).limit(per_page)
    ).all()
    return list(rows), total
