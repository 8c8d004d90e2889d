"""Creating, loading and completing interactions.

An interaction is bound to the browser that started it: the browser keeps a random value
per interaction in its cookie and the row keeps its digest. The value is replaced after
each stage (so the id that authorises the next step changes after the password and after
the second factor). It expires after ``IDP_INTERACTION_TTL`` seconds and never grants a
session or token before its last stage (SPEC L7).

It also ends, at whatever stage, when a change ends the user's sessions (SPEC V1: it recorded
the user's credential generation when it identified them, and the generation moved on), when
the account is disabled, and, for a step-up, when the session it started from ends (SPEC V2:
signed out, expired, replaced). Every page checks this when it loads the interaction, and the
finish checks it again with the user's row locked.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..db import claim_once, utcnow
from ..models import Interaction, Realm, SsoSession, User
from ..services.context import settings
from ..services.crypto import constant_time_equals, digest, random_token
from ..services.errors import ServiceError


class InteractionError(ServiceError):
    pass


class InteractionNotFound(InteractionError):
    pass


class InteractionExpired(InteractionError):
    pass


class InteractionEnded(InteractionNotFound):
    """The user's sessions ended after this sign-in identified them, or the session a
    step-up started from ended (SPEC V1, V2): shown as a sign-in that is no longer valid."""


class InteractionFinished(InteractionError):
    """Every stage ran and the SSO session exists; only resuming it is left."""


def start_interaction(
    db: Session,
    realm: Realm,
    *,
    kind: str,
    params: dict[str, Any] | None = None,
    return_to: str | None = None,
    reason: str = "login",
    login_hint: str | None = None,
    user: User | None = None,
    amr: list[str] | None = None,
    from_sid: str | None = None,
) -> tuple[Interaction, str]:
    """Create an interaction; return it and the browser binding value to keep in the cookie.

    ``user`` presets who must sign in (re-authentication before a sensitive action). A
    step-up passes the signed-in user with the factors the session proved (``amr``) and its
    ``from_sid``: only the missing stages then run.
    """
    binding = random_token(24)
    row = Interaction(
        uid=random_token(18),
        realm_id=realm.id,
        browser_digest=digest(binding),
        kind=kind,
        params=params or {},
        return_to=return_to,
        reason=reason,
        login_hint=(login_hint or "")[:320] or None,
        user_id=user.id if user else None,
        credential_generation=user.credential_generation if user else None,
        amr=list(amr or []),
        progress={},
        from_sid=from_sid,
        expires_at=utcnow() + timedelta(seconds=settings().interaction_ttl),
    )
    db.add(row)
    db.flush()
    return row, binding


def load_interaction(
    db: Session, realm: Realm, uid: str, binding: str | None, *, finished: bool = False
) -> Interaction:
    """The browser's interaction. One whose stages are done (an SSO session exists) raises
    ``InteractionFinished`` unless ``finished`` asks for exactly that (to resume it)."""
    row = find_interaction(db, realm, uid)
    if row is None or row.completed_at is not None:
        raise InteractionNotFound()
    if (row.progress or {}).get("finished_sid") and not finished:
        raise InteractionFinished()
    if not is_bound_to(row, binding):
        raise InteractionNotFound()
    if row.expires_at <= utcnow():
        raise InteractionExpired()
    ensure_alive(db, row)
    return row


def ensure_alive(db: Session, interaction: Interaction, *, lock: bool = False) -> None:
    """Raise ``InteractionEnded`` when the sign-in's user changed credentials or was
    disabled since it identified them (SPEC V1), or when the session a step-up started from
    is no longer live (SPEC V2; checked until the step-up's own session exists). ``lock``
    (at the finish) reads the user's row ``FOR UPDATE``: a change that ends the user's
    sessions updates that row first, so either it waits for this sign-in's session and then
    ends it, or this sign-in sees the new generation."""
    if interaction.user_id is not None:
        query = select(User.credential_generation, User.disabled).where(
            User.id == interaction.user_id
        )
        found = db.execute(query.with_for_update() if lock else query).one_or_none()
        if found is None or found.disabled:
            raise InteractionEnded()
        if interaction.credential_generation != found.credential_generation:
            raise InteractionEnded()
    if interaction.from_sid and not (interaction.progress or {}).get("finished_sid"):
        # Columns, not the row object: the request may hold that session's row already.
        session_query = select(
            SsoSession.user_id, SsoSession.ended_at, SsoSession.expires_at
        ).where(SsoSession.sid == interaction.from_sid)
        sso = db.execute(session_query.with_for_update() if lock else session_query).one_or_none()
        if (
            sso is None
            or sso.user_id != interaction.user_id
            or sso.ended_at is not None
            or sso.expires_at <= utcnow()
        ):
            raise InteractionEnded()


def find_interaction(db: Session, realm: Realm, uid: object) -> Interaction | None:
    """The realm's interaction ``uid`` in whatever state, bound to this browser or not (the
    caller decides what a stale one may reveal)."""
    if not isinstance(uid, str) or len(uid) > 64:
        return None
    row = db.scalar(select(Interaction).where(Interaction.uid == uid))
    return row if row is not None and row.realm_id == realm.id else None


def is_bound_to(interaction: Interaction, binding: str | None) -> bool:
    """Whether ``binding`` (from the browser's cookie) is the interaction's current one."""
    if not binding:
        return False
    return constant_time_equals(interaction.browser_digest, digest(binding))


def restart_interaction(
    db: Session, realm: Realm, interaction: Interaction
) -> tuple[Interaction, str]:
    """Start over ("Not you?"): a fresh sign-in of the same request (or own page), from the
    first stage, that knows nobody: no user, no factor, no login hint, no step-up session.
    The old interaction is used up. Returns the new one and its browser binding value."""
    language = (interaction.progress or {}).get("locale")
    row, binding = start_interaction(
        db,
        realm,
        kind=interaction.kind,
        params=dict(interaction.params or {}),
        return_to=interaction.return_to,
        reason=interaction.reason,
    )
    if language:
        set_progress(row, locale=language)
    complete(db, interaction)
    return row, binding


def advance(db: Session, interaction: Interaction, *, user: User, amr: list[str]) -> str:
    """Record a completed stage and re-bind the interaction to a new browser value. The
    stage that identifies the user (the password, a passkey) records their credential
    generation, read with the password hash it checked."""
    if interaction.user_id != user.id:
        interaction.credential_generation = user.credential_generation
    interaction.user_id = user.id
    merged = list(interaction.amr or [])
    for value in amr:
        if value not in merged:
            merged.append(value)
    interaction.amr = merged
    binding = random_token(24)
    interaction.browser_digest = digest(binding)
    return binding


def keep_after_own_change(interaction: Interaction, user: User) -> None:
    """The sign-in that made a change ending the user's other sign-ins (a factor enrolled
    inside it) goes on: it records the user's new credential generation (SPEC V1)."""
    interaction.credential_generation = user.credential_generation


def set_progress(interaction: Interaction, **values: Any) -> None:
    """Record what a page settled (``postponed``, ``notice_seen``...)."""
    progress = dict(interaction.progress or {})
    progress.update(values)
    interaction.progress = progress


def mark_finished(interaction: Interaction, sid: str) -> None:
    set_progress(interaction, finished_sid=sid)


def complete(db: Session, interaction: Interaction) -> None:
    """Mark the interaction used up (once; atomically): a second resume finds it gone."""
    claimed = claim_once(
        db,
        update(Interaction)
        .where(Interaction.id == interaction.id, Interaction.completed_at.is_(None))
        .values(completed_at=utcnow()),
    )
    if not claimed:
        raise InteractionNotFound()
