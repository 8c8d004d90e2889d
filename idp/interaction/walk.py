"""The walk through a sign-in's stages for one request: the one call a hosted page makes.

It loads the browser's interaction, builds the stage context once, checks that the page's
stage is the one due (or one it stands in for), hands the stage the request, records what
the stage proved (re-binding the interaction) and goes on to the next stage or finishes the
sign-in (``finish.finish_interaction``). It owns the request's unit of work: it commits, as
the pages did before it. The page then draws, redirects or sets cookies as the ``Result``
says; it never reads a progress flag or an ``amr`` value.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from ..i18n import from_ui_locales
from ..models import Interaction, Realm, User
from ..services.sessions import find_sso_session
from . import flow
from .finish import finish_interaction
from .stages import Stage, StageContext, next_stage, stage_for_page
from .steps import Done, Posted, Result, Show


def load(db: Session, realm: Realm, uid: str, posted: Posted) -> Result:
    """The browser's interaction, its user and the sign-in's language, or why it cannot go
    on (``stale``, ``resume``). The sign-in keeps its language: ``ui_locales``, or the
    switch used during it (recorded at once)."""
    try:
        ix = flow.load_interaction(db, realm, uid, posted.binding)
    except flow.InteractionFinished:
        # Every stage ran (the back button after finishing): resume what asked for it.
        return Result(resume=True)
    except flow.InteractionExpired:
        return Result(stale="expired")
    except flow.InteractionNotFound:
        return Result(stale="unknown")
    progress, params = ix.progress or {}, ix.params or {}
    switched = posted.switched_locale
    if switched and progress.get("locale") != switched:
        flow.set_progress(ix, locale=switched)
        db.commit()
    own = (
        None if switched else (progress.get("locale") or from_ui_locales(params.get("ui_locales")))
    )
    user = db.get(User, ix.user_id) if ix.user_id else None
    return Result(interaction=ix, user=user, language=own)


def _locale(result: Result, posted: Posted) -> str:
    return posted.switched_locale or result.language or posted.fallback_locale


def _context(db: Session, realm: Realm, result: Result, posted: Posted) -> StageContext:
    assert result.interaction is not None
    return StageContext(
        db=db,
        realm=realm,
        interaction=result.interaction,
        user=result.user,
        trust_token=posted.trust_token,
        locale=_locale(result, posted),
    )


def run_page(db: Session, realm: Realm, uid: str, page: str | None, posted: Posted) -> Result:
    """One request to a stage's ``page`` (None: the sign-in's own address, which goes on to
    whatever is due)."""
    result = load(db, realm, uid, posted)
    if result.interaction is None:
        return result
    ctx = _context(db, realm, result, posted)
    due = next_stage(ctx)
    if page is None:
        return _go_on(ctx, result, posted, due)
    stage = stage_for_page(page)
    if not stage.runs_now(ctx, due):
        return _go_on(ctx, result, posted, due)
    step = stage.act(ctx, page, posted) if posted.is_post else stage.show(ctx, page)
    if isinstance(step, Show):
        result.show = step
        return result
    return _after(ctx, result, posted, step)


def go_on(db: Session, realm: Realm, ix: Interaction, user: User | None, posted: Posted) -> Result:
    """For a page that is no stage's (Cancel of a sign-in that is not a re-authentication,
    the codes' download): on to the stage that is due, or finish."""
    result = Result(interaction=ix, user=user)
    ctx = _context(db, realm, result, posted)
    return _go_on(ctx, result, posted, next_stage(ctx))


def _after(ctx: StageContext, result: Result, posted: Posted, step: Done) -> Result:
    result.trust = step.trust
    if step.advance:
        user = step.user or ctx.user
        assert user is not None
        result.binding = flow.advance(ctx.db, ctx.interaction, user=user, amr=list(step.amr))
        ctx.db.commit()
        if user is not ctx.user:
            ctx.identify(user)
            result.user = user
    if step.then is not None:
        result.show = step.then
        return result
    if step.refresh:
        ctx.refresh()
    return _go_on(ctx, result, posted, next_stage(ctx))


def _go_on(ctx: StageContext, result: Result, posted: Posted, due: Stage | None) -> Result:
    """To the page of the stage that is due, or finish: every stage ran."""
    if due is not None:
        result.goto = due.endpoint
        return result
    user, ix, db = ctx.user, ctx.interaction, ctx.db
    if user is None or user.disabled:
        result.stale = "unknown"
        return result
    previous = find_sso_session(db, ctx.realm.id, posted.sso_token)
    if ix.from_sid and (previous is None or previous.sid != ix.from_sid):
        # A step-up counts the factors of the session it started from: that session must
        # still be this browser's (not signed out, not replaced) when it finishes.
        result.stale = "unknown"
        return result
    try:
        result.finished = finish_interaction(
            db,
            ctx.realm,
            ix,
            user,
            previous=previous,
            client_address=posted.client_address,
            user_agent=posted.user_agent,
            locale=ctx.locale,
        )
    except flow.InteractionEnded:
        db.rollback()
        result.stale = "unknown"
        return result
    db.commit()
    return result
