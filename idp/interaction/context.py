"""Builds the plain facts the policy checks read (``policy.Context``) from the database
rows and the stored authorization request, so the checks themselves stay pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from .. import clock
from ..assurance import essential_acr
from ..models import Interaction, Realm, User
from ..services.clients import any_client_requires_2fa, find_client
from ..services.factors import has_second_factor
from . import policy

#: Interaction reasons of own pages that need every factor the user has.
FRESH_REASONS = frozenset({"reauth", "console_2fa"})


def realm_policy(realm: Realm) -> policy.RealmPolicy:
    return policy.RealmPolicy(
        require_2fa=realm.require_2fa or policy.REQUIRE_NONE,
        require_2fa_since=realm.require_2fa_since,
        grace_days=realm.grace_days or 0,
        trust_browser_days=realm.trust_browser_days or 0,
    )


def user_facts(db: Session, user: User) -> policy.UserFacts:
    return policy.UserFacts(
        is_admin=bool(user.is_admin),
        has_second_factor=has_second_factor(db, user),
        created_at=user.created_at,
    )


def second_factor_required_by(db: Session, realm: Realm, user: User) -> str | None:
    """SPEC P5: which policy requires a second factor of the user, so that they may replace
    their key but not disable it: ``"realm"`` (the realm policy covers them), ``"client"``
    (an app of the realm requires it), or None."""
    if policy.realm_covers(realm_policy(realm), user_facts(db, user)):
        return "realm"
    if any_client_requires_2fa(db, realm):
        return "client"
    return None


def request_facts(
    db: Session,
    realm: Realm,
    params: Mapping[str, Any],
    *,
    reason: str | None = None,
    hint_sub: str | None = None,
) -> policy.RequestFacts:
    """The facts of an authorization request (already validated: ``max_age`` is digits,
    ``claims`` parses) or of an own page (``reason``)."""
    client = None
    if params.get("client_id"):
        client = find_client(db, realm, params["client_id"])
    max_age = params.get("max_age")
    try:
        essential = essential_acr(params.get("claims"))
    except ValueError:
        essential = ()
    return policy.RequestFacts(
        prompts=frozenset((params.get("prompt") or "").split()),
        max_age=int(max_age) if max_age not in (None, "") else None,
        acr_values=tuple((params.get("acr_values") or "").split()),
        essential_acr=essential,
        client_requires_2fa=bool(client and client.require_2fa) or reason == "console_2fa",
        hint_sub=hint_sub,
        fresh=reason in FRESH_REASONS,
    )


def policy_context(
    db: Session, realm: Realm, interaction: Interaction, user: User | None
) -> policy.Context:
    """The policy's view of a sign-in in progress."""
    return policy.Context(
        now=clock.timestamp(),
        realm=realm_policy(realm),
        request=request_facts(db, realm, interaction.params or {}, reason=interaction.reason),
        user=user_facts(db, user) if user is not None else None,
        user_sub=user.sub if user is not None else None,
    )


def authorization_context(
    db: Session,
    realm: Realm,
    params: Mapping[str, Any],
    *,
    user: User | None,
    amr: Sequence[str],
    auth_time: int,
    hint_sub: str | None,
) -> policy.Context:
    """The policy's view of an authorization request and the browser's SSO session (``user``
    None when there is none)."""
    session = (
        policy.SessionFacts(user_id=user.id, amr=tuple(amr), auth_time=auth_time)
        if user is not None
        else None
    )
    return policy.Context(
        now=clock.timestamp(),
        realm=realm_policy(realm),
        request=request_facts(db, realm, params, hint_sub=hint_sub),
        session=session,
        user=user_facts(db, user) if user is not None else None,
        user_sub=user.sub if user is not None else None,
    )
