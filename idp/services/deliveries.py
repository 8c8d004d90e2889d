"""The console's recent deliveries (issue 17): the realm's back-channel logout tokens on their
way or delivered, each with its application, the URI called, its attempts and what the
receiver answered the last time (``DeliveryAttempt.result``: ``HTTP 204``, a timeout...).

The rows are outbox messages of kind ``backchannel_logout`` (``logout.BACKCHANNEL``): the
message's ``topic`` is the client's ``client_id`` and its ``recipient`` the URI as it was
when the session ended. Failures come first, the deliveries that gave up (``failed``), then
those still retrying; the rest, newest first. Only the realm's own messages, attempts and
clients are read, never another realm's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import and_, case, exists, select
from sqlalchemy.orm import Session

from ..models import Client, DeliveryAttempt, OutboxMessage, Realm
from .logout import BACKCHANNEL

#: How many deliveries the console lists at most.
RECENT_LIMIT = 100


class DeliveryState(StrEnum):
    """Where a delivery stands."""

    #: The receiver accepted it (an HTTP 2xx).
    DELIVERED = "sent"
    #: Every attempt failed and the outbox gave up (``logout.RETRIES``).
    FAILED = "failed"
    #: An attempt failed; another is due at ``next_attempt_at``.
    RETRYING = "retrying"
    #: Not tried yet.
    WAITING = "waiting"


@dataclass(frozen=True)
class RecentDelivery:
    """One logout token's delivery, as the console lists it."""

    message_id: int
    #: When the token was queued: when the session ended.
    queued_at: datetime
    #: The client's ``client_id`` (the message's topic).
    client_id: str
    #: The client's name; None when the client is no longer registered.
    client_name: str | None
    #: The URI called (or to be called).
    uri: str
    state: DeliveryState
    #: The attempts made so far.
    attempts: int
    #: The last attempt's time, and what the receiver answered then, in words; None when
    #: nothing was tried yet.
    last_attempt_at: datetime | None
    last_result: str | None
    #: When the next attempt is due, while the delivery is retrying.
    next_attempt_at: datetime | None


def _state(message: OutboxMessage, tried: bool) -> DeliveryState:
    if message.status == "sent":
        return DeliveryState.DELIVERED
    if message.status == "failed":
        return DeliveryState.FAILED
    return DeliveryState.RETRYING if tried else DeliveryState.WAITING


def recent_backchannel_deliveries(
    db: Session, realm: Realm, *, limit: int = RECENT_LIMIT
) -> list[RecentDelivery]:
    """The realm's ``limit`` most relevant back-channel logout deliveries: those that gave up
    first, then those retrying after a failed attempt, then the others; newest first within
    each."""
    attempted = exists().where(
        DeliveryAttempt.message_id == OutboxMessage.id,
        DeliveryAttempt.realm_id == realm.id,
    )
    rank = case(
        (OutboxMessage.status == "failed", 0),
        (and_(OutboxMessage.status == "pending", attempted), 1),
        else_=2,
    )
    messages = list(
        db.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.realm_id == realm.id, OutboxMessage.kind == BACKCHANNEL)
            .order_by(rank, OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
            .limit(limit)
        ).all()
    )
    if not messages:
        return []
    tries: dict[int, list[DeliveryAttempt]] = {m.id: [] for m in messages}
    for row in db.scalars(
        select(DeliveryAttempt)
        .where(DeliveryAttempt.message_id.in_(tries), DeliveryAttempt.realm_id == realm.id)
        .order_by(DeliveryAttempt.attempted_at, DeliveryAttempt.id)
    ):
        tries[row.message_id].append(row)
    names = {
        client_id: name
        for client_id, name in db.execute(
            select(Client.client_id, Client.name).where(
                Client.realm_id == realm.id,
                Client.client_id.in_({m.topic for m in messages}),
            )
        )
    }
    found = []
    for message in messages:
        made = tries[message.id]
        last = made[-1] if made else None
        state = _state(message, bool(made))
        found.append(
            RecentDelivery(
                message_id=message.id,
                queued_at=message.created_at,
                client_id=message.topic,
                client_name=names.get(message.topic),
                uri=message.recipient,
                state=state,
                attempts=len(made),
                last_attempt_at=last.attempted_at if last else None,
                last_result=last.result if last else None,
                next_attempt_at=message.next_attempt_at
                if state is DeliveryState.RETRYING
                else None,
            )
        )
    return found
