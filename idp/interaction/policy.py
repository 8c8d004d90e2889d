"""The sign-in policy as named checks (as node-oidc-provider's interaction policy).

Two questions, each answered by small pure functions of plain data:

- At the authorization endpoint (and before an own page): does the browser's SSO session
  satisfy this request, and if not, why? ``prompt_reasons`` runs the checks in order and
  returns the names of those that fail, e.g. ``["max_age"]``.
- Inside a sign-in, once the user is known: what must it reach? ``requirement`` says the
  assurance level, whether enrolling a second factor is required, may be put off (the grace
  period, SPEC P2) or is not asked, and whether a trusted browser may stand in for the code.

The levels are Keycloak's: 1 a password, 2 two factors (SPEC T1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from .. import assurance

#: Realm policy values (SPEC P1).
REQUIRE_NONE = "none"
REQUIRE_ADMINS = "admins"
REQUIRE_ALL = "all"
REALM_REQUIREMENTS = (REQUIRE_NONE, REQUIRE_ADMINS, REQUIRE_ALL)

#: Reasons that mean "sign in afresh" (``login_required`` for ``prompt=none``); the others
#: mean "a second factor is missing" (``interaction_required``).
LOGIN_REASONS = frozenset({"no_session", "prompt_login", "max_age", "id_token_hint"})


@dataclass(frozen=True)
class SessionFacts:
    """What the browser's SSO session proves."""

    user_id: int
    amr: tuple[str, ...]
    auth_time: int

    @property
    def level(self) -> int:
        return assurance.level_of(self.amr)


@dataclass(frozen=True)
class UserFacts:
    """What the policy needs to know of the user."""

    is_admin: bool
    has_second_factor: bool
    created_at: datetime


@dataclass(frozen=True)
class RealmPolicy:
    require_2fa: str = REQUIRE_NONE
    require_2fa_since: datetime | None = None
    grace_days: int = 0
    trust_browser_days: int = 0


@dataclass(frozen=True)
class RequestFacts:
    """What the authorization request (or an own page) asks for."""

    prompts: frozenset[str] = frozenset()
    max_age: int | None = None
    #: ``acr_values``, in order of preference (OIDC Core 3.1.2.1: alternatives).
    acr_values: tuple[str, ...] = ()
    #: Values of an essential ``acr`` claim request (OIDC Core 5.5.1.1), if any.
    essential_acr: tuple[str, ...] = ()
    client_requires_2fa: bool = False
    #: ``sub`` of a verified ``id_token_hint``; ``""`` when a hint was sent but is not ours.
    hint_sub: str | None = None
    #: The page needs every factor the user has (re-authentication, the console).
    fresh: bool = False


@dataclass(frozen=True)
class Context:
    now: float
    realm: RealmPolicy
    request: RequestFacts
    session: SessionFacts | None = None
    user: UserFacts | None = None
    user_sub: str | None = None


# -- acr ---------------------------------------------------------------------------------------


#: The level an acr value names (kept here for the checks below and their tests).
acr_level = assurance.acr_level


def voluntary_level(request: RequestFacts) -> int:
    """The lowest level among the known ``acr_values`` (they are alternatives: ``"1 2"`` is
    met by a password); 0 when none is known."""
    levels = [lvl for lvl in map(acr_level, request.acr_values) if lvl is not None]
    return min(levels) if levels else 0


def essential_level(request: RequestFacts) -> int:
    """The lowest level among the values of an essential ``acr`` claim; 0 when none."""
    levels = [lvl for lvl in map(acr_level, request.essential_acr) if lvl is not None]
    return min(levels) if levels else 0


#: SPEC V4: an essential acr that can never be met (checked by the authorize request).
essential_acr_unsatisfiable = assurance.essential_acr_unsatisfiable


# -- who a realm policy covers, and the grace period --------------------------------------------
def realm_covers(realm: RealmPolicy, user: UserFacts) -> bool:
    """SPEC P1: does the realm require a second factor of this user?"""
    if realm.require_2fa == REQUIRE_ALL:
        return True
    return realm.require_2fa == REQUIRE_ADMINS and user.is_admin


def grace_ends(realm: RealmPolicy, user: UserFacts) -> datetime | None:
    """SPEC P2: the end of the user's grace period (from the policy taking effect or the
    account's creation, whichever is later), or None when there is none."""
    if realm.grace_days <= 0:
        return None
    start = max(filter(None, (realm.require_2fa_since, user.created_at)))
    return start + timedelta(days=realm.grace_days)


def grace_days_left(realm: RealmPolicy, user: UserFacts, now: datetime) -> int:
    """Whole days left to put enrolment off (counting today); 0 once the grace is over."""
    end = grace_ends(realm, user)
    if end is None or now >= end:
        return 0
    return max(1, -(-int((end - now).total_seconds()) // 86400))


# -- checks on an SSO session (each returns its reason, or None) --------------------------------
def check_no_session(ctx: Context) -> str | None:
    return "no_session" if ctx.session is None else None


def check_prompt_login(ctx: Context) -> str | None:
    return "prompt_login" if "login" in ctx.request.prompts else None


def check_max_age(ctx: Context) -> str | None:
    """OIDC Core 3.1.2.1: the session is older than ``max_age`` seconds (0 forces a new
    sign-in, SPEC P4)."""
    max_age = ctx.request.max_age
    if max_age is None or ctx.session is None:
        return None
    return "max_age" if max_age <= 0 or ctx.now - ctx.session.auth_time > max_age else None


def check_id_token_hint(ctx: Context) -> str | None:
    """OIDC Core 3.1.2.1: a hint that is not ours, or names another user, is not this
    session's user."""
    hint = ctx.request.hint_sub
    if hint is None:
        return None
    return "id_token_hint" if hint != ctx.user_sub or not hint else None


def check_acr_values(ctx: Context) -> str | None:
    """A voluntary level the session does not reach, for a user who can reach it (one
    without a second factor gets acr "1": the relying party must check ``acr``)."""
    level = voluntary_level(ctx.request)
    if ctx.session is None or level <= ctx.session.level:
        return None
    return "acr_values" if ctx.user is not None and ctx.user.has_second_factor else None


def check_essential_acr(ctx: Context) -> str | None:
    if ctx.session is None or essential_level(ctx.request) <= ctx.session.level:
        return None
    return "essential_acr"


def check_client_requirement(ctx: Context) -> str | None:
    if ctx.session is None or not ctx.request.client_requires_2fa or ctx.session.level >= 2:
        return None
    return "client_requires_2fa"


def check_realm_requirement(ctx: Context) -> str | None:
    """The realm requires a second factor of this user and the session has none. A user
    within the grace period who signed in after the policy took effect has already been
    offered enrolment and put it off: not asked again during that session."""
    if ctx.session is None or ctx.user is None or ctx.session.level >= 2:
        return None
    if not realm_covers(ctx.realm, ctx.user):
        return None
    if not ctx.user.has_second_factor and not ctx.request.fresh:
        since = ctx.realm.require_2fa_since
        now = _as_datetime(ctx.now)
        postponed = since is not None and ctx.session.auth_time >= int(since.timestamp())
        if postponed and grace_days_left(ctx.realm, ctx.user, now) > 0:
            return None
    return "realm_requires_2fa"


Check = Callable[[Context], str | None]

#: In order; the first reasons decide the error for ``prompt=none``.
CHECKS: tuple[Check, ...] = (
    check_no_session,
    check_prompt_login,
    check_max_age,
    check_id_token_hint,
    check_essential_acr,
    check_client_requirement,
    check_realm_requirement,
    check_acr_values,
)


def prompt_reasons(ctx: Context, checks: tuple[Check, ...] = CHECKS) -> list[str]:
    """The names of the checks the SSO session fails ([] when it satisfies the request)."""
    if ctx.session is None:
        return ["no_session"]
    return [reason for check in checks if (reason := check(ctx))]


def needs_fresh_sign_in(reasons: list[str]) -> bool:
    """Whether the reasons demand a new sign-in (all factors again) rather than a step-up
    that only adds what the session lacks."""
    return any(reason in LOGIN_REASONS for reason in reasons)


def prompt_none_error(reasons: list[str]) -> str:
    """``prompt=none`` answers: ``login_required`` or ``interaction_required`` (SPEC P4)."""
    return "login_required" if needs_fresh_sign_in(reasons) else "interaction_required"


# -- what a sign-in must reach, once the user is known -------------------------------------------
ENROL_NO = "no"
ENROL_OPTIONAL = "optional"  # the grace period: "Later" is offered
ENROL_REQUIRED = "required"


@dataclass(frozen=True)
class Requirement:
    level: int
    enrol: str = ENROL_NO
    grace_days_left: int = 0
    #: Why a second factor is needed (for the page and the audit log).
    because: tuple[str, ...] = field(default_factory=tuple)


def requirement(ctx: Context) -> Requirement:
    """SPEC P1-P3: the level this sign-in must reach and what to do about a user without a
    second factor. A voluntary ``acr_values`` never makes anyone enrol."""
    user = ctx.user
    assert user is not None, "the requirement is known once the user is"
    because: list[str] = []
    if essential_level(ctx.request) >= 2:
        because.append("essential_acr")
    if ctx.request.client_requires_2fa:
        because.append("client")
    covered = realm_covers(ctx.realm, user)
    if covered:
        because.append("realm")
    if user.has_second_factor:
        # L1: a user with a second factor always uses it.
        return Requirement(level=2, because=tuple(because) or ("enrolled",))
    if not because:
        return Requirement(level=1)
    if because == ["realm"]:  # the grace period (the console sets "client" too: no Later)
        days = grace_days_left(ctx.realm, user, _as_datetime(ctx.now))
        if days > 0:
            return Requirement(
                level=2, enrol=ENROL_OPTIONAL, grace_days_left=days, because=("realm",)
            )
    return Requirement(level=2, enrol=ENROL_REQUIRED, because=tuple(because))


def trusted_browser_may_skip(ctx: Context) -> bool:
    """SPEC P8: a trusted browser stands in for the code unless the realm turned trust off,
    or the request demands a fresh sign-in (``prompt=login``, ``max_age``) or every factor
    (re-authentication before a sensitive action)."""
    if ctx.realm.trust_browser_days <= 0 or ctx.request.fresh:
        return False
    return "login" not in ctx.request.prompts and ctx.request.max_age is None


def _as_datetime(now: float) -> datetime:
    return datetime.fromtimestamp(now, UTC)
