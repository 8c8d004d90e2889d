"""Finishing a sign-in: every stage ran, so the user gets a new SSO session (a new id) with
the combined ``amr`` and a new ``auth_time``, and the sign-in is audited. Resuming what asked
for the sign-in (an authorization request, an own page) is the caller's part."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from .. import clock
from ..assurance import acr_for, ordered
from ..models import Interaction, Realm, SsoSession, User
from ..services.audit import record_event
from ..services.sessions import create_sso_session, end_replaced_session
from ..services.users import record_locale
from . import flow


@dataclass
class FinishedSignIn:
    sso: SsoSession
    cookie_value: str
    amr: list[str]
    auth_time: int


def finish_interaction(
    db: Session,
    realm: Realm,
    interaction: Interaction,
    user: User,
    *,
    previous: SsoSession | None,
    client_address: str | None,
    user_agent: str = "",
    locale: str | None = None,
) -> FinishedSignIn:
    """Create the SSO session (ending the browser's previous one) and audit the sign-in.
    ``locale`` (the language the sign-in pages were in) becomes the user's language for
    mail. The caller commits and sets the cookie.

    Raises ``flow.InteractionEnded`` when the user's sessions ended meanwhile or the session
    a step-up started from did (SPEC V1, V2), checked with the user's row locked until the
    caller commits."""
    flow.ensure_alive(db, interaction, lock=True)
    amr = ordered(interaction.amr or [])
    auth_time = int(clock.timestamp())
    if previous is not None:
        client_id = (interaction.params or {}).get("client_id")
        end_replaced_session(
            db,
            previous,
            user=user,
            client_id=client_id if interaction.kind == "authorize" else None,
        )
    sso, cookie_value = create_sso_session(
        db,
        user,
        amr=amr,
        acr=acr_for(amr),
        auth_time=auth_time,
        user_agent=user_agent,
        client_address=client_address,
    )
    record_locale(user, locale)
    flow.mark_finished(interaction, sso.sid)
    if interaction.kind != "authorize":
        flow.complete(db, interaction)
    record_event(
        db,
        realm.id,
        "login.succeeded",
        actor=f"user:{user.email}",
        subject=user,
        client_address=client_address,
        detail={"amr": amr, "step_up": bool(interaction.from_sid)},
    )
    return FinishedSignIn(sso=sso, cookie_value=cookie_value, amr=amr, auth_time=auth_time)
