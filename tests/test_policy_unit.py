"""Unit tests for the sign-in policy (``idp/interaction/policy.py``), the acr helpers of
``idp/assurance.py`` and ``ordered_amr``: pure functions of plain data, no server, no
database. Named after the SPEC section 6 rule they prove where one applies."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from idp.assurance import PAPE_MFA, acr_for, essential_acr
from idp.assurance import ordered as ordered_amr
from idp.interaction import policy
from idp.interaction.policy import (
    ENROL_NO,
    ENROL_OPTIONAL,
    ENROL_REQUIRED,
    Context,
    RealmPolicy,
    RequestFacts,
    SessionFacts,
    UserFacts,
)

AMR_PASSWORD = ["pwd"]
AMR_TOTP = ["pwd", "otp", "mfa"]
AMR_BACKUP = ["pwd", "mfa", "backup_code"]

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
T = NOW.timestamp()
SUB = "sub-alice"

_UNSET: Any = object()


def session(amr: tuple[str, ...] = ("pwd",), *, age: float = 60) -> SessionFacts:
    """An SSO session of user 1 that signed in ``age`` seconds before NOW."""
    return SessionFacts(user_id=1, amr=amr, auth_time=int(T - age))


MFA_SESSION = ("pwd", "otp", "mfa")


def user(
    *, factor: bool = False, admin: bool = False, created: datetime | None = None
) -> UserFacts:
    return UserFacts(
        is_admin=admin,
        has_second_factor=factor,
        created_at=created or NOW - timedelta(days=365),
    )


def ctx(
    *,
    sess: SessionFacts | None = _UNSET,
    usr: UserFacts | None = _UNSET,
    realm: RealmPolicy | None = None,
    now: datetime = NOW,
    user_sub: str | None = SUB,
    **request: Any,
) -> Context:
    if "prompts" in request:
        request["prompts"] = frozenset(request["prompts"])
    return Context(
        now=now.timestamp(),
        realm=realm or RealmPolicy(),
        request=RequestFacts(**request),
        session=session() if sess is _UNSET else sess,
        user=user() if usr is _UNSET else usr,
        user_sub=user_sub,
    )


def grace_realm(
    *, require: str = policy.REQUIRE_ALL, since: datetime = NOW - timedelta(days=1), days: int = 7
) -> RealmPolicy:
    return RealmPolicy(require_2fa=require, require_2fa_since=since, grace_days=days)


# -- a session that satisfies the request ---------------------------------------------------------


def test_plain_password_session_satisfies_a_plain_request() -> None:
    assert policy.prompt_reasons(ctx()) == []


def test_mfa_session_of_user_with_factor_satisfies_every_step_up() -> None:
    c = ctx(
        sess=session(MFA_SESSION),
        usr=user(factor=True, admin=True),
        realm=RealmPolicy(require_2fa=policy.REQUIRE_ALL),
        acr_values=("2",),
        essential_acr=(PAPE_MFA,),
        client_requires_2fa=True,
    )
    assert policy.prompt_reasons(c) == []


def test_session_level_follows_mfa_in_amr() -> None:
    assert session(("pwd",)).level == 1
    assert session(("pwd", "otp", "mfa")).level == 2
    assert session(("pwd", "mfa", "backup_code")).level == 2


# -- check_no_session ------------------------------------------------------------------------------


def test_p4_no_session_is_the_only_reason_and_means_login_required() -> None:
    c = ctx(sess=None, usr=None, user_sub=None, prompts={"login"}, client_requires_2fa=True)
    assert policy.check_no_session(c) == "no_session"
    reasons = policy.prompt_reasons(c)
    assert reasons == ["no_session"]
    assert policy.prompt_none_error(reasons) == "login_required"


def test_no_session_check_passes_with_a_session() -> None:
    assert policy.check_no_session(ctx()) is None


# -- check_prompt_login ----------------------------------------------------------------------------


def test_p4_prompt_login_forces_a_new_sign_in() -> None:
    c = ctx(prompts={"login", "consent"})
    assert policy.check_prompt_login(c) == "prompt_login"
    assert policy.prompt_reasons(c) == ["prompt_login"]
    assert policy.needs_fresh_sign_in(["prompt_login"])


@pytest.mark.parametrize("prompts", [set(), {"consent"}, {"select_account"}, {"none"}])
def test_prompt_other_than_login_is_not_a_reason(prompts: set[str]) -> None:
    assert policy.check_prompt_login(ctx(prompts=prompts)) is None


# -- check_max_age ---------------------------------------------------------------------------------


def test_p4_max_age_zero_forces_a_new_sign_in() -> None:
    c = ctx(sess=session(age=0), max_age=0)
    assert policy.check_max_age(c) == "max_age"
    assert policy.prompt_reasons(c) == ["max_age"]


def test_p4_max_age_older_session_forces_a_new_sign_in() -> None:
    assert policy.check_max_age(ctx(sess=session(age=3601), max_age=3600)) == "max_age"


def test_p4_max_age_session_exactly_that_old_or_younger_is_kept() -> None:
    assert policy.check_max_age(ctx(sess=session(age=3600), max_age=3600)) is None
    assert policy.check_max_age(ctx(sess=session(age=10), max_age=3600)) is None


def test_without_max_age_an_old_session_is_kept() -> None:
    assert policy.check_max_age(ctx(sess=session(age=86400 * 30))) is None


# -- check_id_token_hint ---------------------------------------------------------------------------


def test_id_token_hint_for_this_user_is_not_a_reason() -> None:
    assert policy.check_id_token_hint(ctx(hint_sub=SUB)) is None
    assert policy.check_id_token_hint(ctx()) is None


def test_id_token_hint_for_another_user_forces_a_new_sign_in() -> None:
    c = ctx(hint_sub="sub-bob")
    assert policy.check_id_token_hint(c) == "id_token_hint"
    assert policy.prompt_none_error(policy.prompt_reasons(c)) == "login_required"


def test_id_token_hint_that_is_not_ours_forces_a_new_sign_in() -> None:
    assert policy.check_id_token_hint(ctx(hint_sub="")) == "id_token_hint"
    assert policy.check_id_token_hint(ctx(hint_sub="", user_sub="")) == "id_token_hint"


# -- check_essential_acr ---------------------------------------------------------------------------


def test_p3_essential_acr_2_with_password_session_is_a_step_up() -> None:
    c = ctx(essential_acr=("2",))
    assert policy.check_essential_acr(c) == "essential_acr"
    reasons = policy.prompt_reasons(c)
    assert reasons == ["essential_acr"]
    assert not policy.needs_fresh_sign_in(reasons)
    assert policy.prompt_none_error(reasons) == "interaction_required"


def test_p3_essential_acr_pape_uri_counts_as_level_2() -> None:
    request = RequestFacts(essential_acr=(PAPE_MFA,))
    assert policy.essential_level(request) == 2
    assert policy.check_essential_acr(ctx(essential_acr=(PAPE_MFA,))) == "essential_acr"


def test_p3_essential_acr_met_by_an_mfa_session() -> None:
    c = ctx(sess=session(MFA_SESSION), usr=user(factor=True), essential_acr=("2",))
    assert policy.check_essential_acr(c) is None


def test_p3_essential_acr_1_is_met_by_a_password() -> None:
    assert policy.check_essential_acr(ctx(essential_acr=("1",))) is None


def test_p3_essential_acr_values_are_alternatives() -> None:
    assert policy.essential_level(RequestFacts(essential_acr=("2", "1"))) == 1
    assert policy.check_essential_acr(ctx(essential_acr=("2", "1"))) is None


def test_unknown_essential_acr_values_are_ignored() -> None:
    assert policy.essential_level(RequestFacts(essential_acr=("urn:gold",))) == 0
    assert policy.check_essential_acr(ctx(essential_acr=("urn:gold",))) is None
    assert policy.essential_level(RequestFacts(essential_acr=("urn:gold", "2"))) == 2


# -- check_client_requirement ----------------------------------------------------------------------


def test_p3_client_requirement_fires_for_a_password_session() -> None:
    c = ctx(client_requires_2fa=True)
    assert policy.check_client_requirement(c) == "client_requires_2fa"
    assert policy.prompt_none_error(policy.prompt_reasons(c)) == "interaction_required"


def test_p3_client_requirement_met_by_an_mfa_session() -> None:
    c = ctx(sess=session(MFA_SESSION), usr=user(factor=True), client_requires_2fa=True)
    assert policy.check_client_requirement(c) is None


def test_client_without_requirement_is_not_a_reason() -> None:
    assert policy.check_client_requirement(ctx(usr=user(factor=True))) is None


# -- realm_covers and check_realm_requirement ------------------------------------------------------


def test_p1_admins_policy_covers_admins_only() -> None:
    admins = RealmPolicy(require_2fa=policy.REQUIRE_ADMINS)
    assert policy.realm_covers(admins, user(admin=True))
    assert not policy.realm_covers(admins, user(admin=False))
    assert policy.check_realm_requirement(ctx(realm=admins, usr=user(admin=True))) == (
        "realm_requires_2fa"
    )
    assert policy.check_realm_requirement(ctx(realm=admins, usr=user(admin=False))) is None


def test_p1_all_policy_covers_everyone_and_none_covers_no_one() -> None:
    everyone = RealmPolicy(require_2fa=policy.REQUIRE_ALL)
    nobody = RealmPolicy(require_2fa=policy.REQUIRE_NONE)
    assert policy.realm_covers(everyone, user(admin=False))
    assert policy.realm_covers(everyone, user(admin=True))
    assert not policy.realm_covers(nobody, user(admin=True))
    assert policy.check_realm_requirement(ctx(realm=everyone)) == "realm_requires_2fa"
    assert policy.check_realm_requirement(ctx(realm=nobody, usr=user(admin=True))) is None


def test_p1_realm_requirement_met_by_an_mfa_session() -> None:
    c = ctx(
        realm=RealmPolicy(require_2fa=policy.REQUIRE_ALL),
        sess=session(MFA_SESSION),
        usr=user(factor=True),
    )
    assert policy.check_realm_requirement(c) is None


def test_p2_user_who_put_enrolment_off_is_not_asked_again_in_that_session() -> None:
    # Signed in an hour ago, after the policy took effect a day ago: enrolment was offered.
    c = ctx(realm=grace_realm(), sess=session(age=3600))
    assert policy.check_realm_requirement(c) is None
    assert policy.prompt_reasons(c) == []


def test_p2_session_from_before_the_policy_is_asked_to_enrol_even_in_grace() -> None:
    c = ctx(realm=grace_realm(), sess=session(age=2 * 86400))
    assert policy.check_realm_requirement(c) == "realm_requires_2fa"
    assert policy.prompt_none_error(policy.prompt_reasons(c)) == "interaction_required"


def test_p2_after_grace_the_realm_requirement_fires_again() -> None:
    realm = grace_realm(since=NOW - timedelta(days=8), days=7)
    c = ctx(realm=realm, sess=session(age=3600))
    assert policy.check_realm_requirement(c) == "realm_requires_2fa"


def test_p2_fresh_page_ignores_the_grace_period() -> None:
    c = ctx(realm=grace_realm(), sess=session(age=3600), fresh=True)
    assert policy.check_realm_requirement(c) == "realm_requires_2fa"


def test_p1_grace_does_not_excuse_a_user_with_a_factor_from_using_it() -> None:
    c = ctx(realm=grace_realm(), sess=session(age=3600), usr=user(factor=True))
    assert policy.check_realm_requirement(c) == "realm_requires_2fa"


# -- a password session of a user who has a factor -------------------------------------------


def test_password_session_of_user_with_factor_satisfies_a_plain_request() -> None:
    # (The browser that enabled 2FA keeps its password session; a request for level 2 steps
    # it up, a plain one is answered with acr "1".)
    assert policy.prompt_reasons(ctx(usr=user(factor=True))) == []


# -- check_acr_values and voluntary_level ----------------------------------------------------------


def test_p3_acr_values_are_alternatives_1_2_met_by_password() -> None:
    c = ctx(acr_values=("1", "2"), sess=session(MFA_SESSION), usr=user(factor=True))
    assert policy.voluntary_level(c.request) == 1
    pwd_only = ctx(acr_values=("1", "2"), usr=user(factor=False))
    assert policy.check_acr_values(pwd_only) is None
    assert policy.prompt_reasons(pwd_only) == []


def test_p3_acr_values_2_for_user_with_factor_is_a_step_up() -> None:
    c = ctx(acr_values=("2",), usr=user(factor=True))
    assert policy.check_acr_values(c) == "acr_values"
    reasons = policy.prompt_reasons(c)
    assert reasons == ["acr_values"]
    assert policy.prompt_none_error(reasons) == "interaction_required"


def test_p3_acr_values_pape_uri_counts_as_level_2() -> None:
    assert policy.voluntary_level(RequestFacts(acr_values=(PAPE_MFA,))) == 2
    assert policy.check_acr_values(ctx(acr_values=(PAPE_MFA,), usr=user(factor=True))) == (
        "acr_values"
    )


def test_p3_voluntary_acr_for_user_without_factor_is_not_a_reason() -> None:
    c = ctx(acr_values=("2",), usr=user(factor=False))
    assert policy.check_acr_values(c) is None
    assert policy.prompt_reasons(c) == []


def test_p3_acr_values_2_met_by_an_mfa_session() -> None:
    c = ctx(acr_values=("2",), sess=session(MFA_SESSION), usr=user(factor=True))
    assert policy.check_acr_values(c) is None


def test_unknown_acr_values_are_ignored() -> None:
    assert policy.voluntary_level(RequestFacts(acr_values=("urn:gold", "silver"))) == 0
    c = ctx(acr_values=("urn:gold",), usr=user(factor=True), sess=session(MFA_SESSION))
    assert policy.prompt_reasons(c) == []
    assert policy.voluntary_level(RequestFacts(acr_values=("urn:gold", "2"))) == 2


@pytest.mark.parametrize(
    ("value", "level"), [("1", 1), ("2", 2), (PAPE_MFA, 2), ("0", None), ("3", None), ("", None)]
)
def test_acr_level_of_each_value(value: str, level: int | None) -> None:
    assert policy.acr_level(value) == level


# -- prompt_reasons, needs_fresh_sign_in, prompt_none_error ----------------------------------------


def test_p4_reasons_come_in_check_order() -> None:
    c = ctx(
        prompts={"login"},
        max_age=0,
        hint_sub="sub-bob",
        essential_acr=("2",),
        client_requires_2fa=True,
        realm=RealmPolicy(require_2fa=policy.REQUIRE_ALL),
        usr=user(factor=True),
        acr_values=("2",),
    )
    assert policy.prompt_reasons(c) == [
        "prompt_login",
        "max_age",
        "id_token_hint",
        "essential_acr",
        "client_requires_2fa",
        "realm_requires_2fa",
        "acr_values",
    ]


def test_prompt_reasons_runs_only_the_checks_given() -> None:
    c = ctx(prompts={"login"}, client_requires_2fa=True)
    assert policy.prompt_reasons(c, (policy.check_client_requirement,)) == ["client_requires_2fa"]


@pytest.mark.parametrize("reason", ["no_session", "prompt_login", "max_age", "id_token_hint"])
def test_p4_prompt_none_login_reasons_answer_login_required(reason: str) -> None:
    assert policy.needs_fresh_sign_in([reason])
    assert policy.prompt_none_error([reason]) == "login_required"
    assert policy.prompt_none_error(["client_requires_2fa", reason]) == "login_required"


@pytest.mark.parametrize(
    "reason",
    [
        "essential_acr",
        "client_requires_2fa",
        "realm_requires_2fa",
        "acr_values",
    ],
)
def test_p4_prompt_none_step_up_reasons_answer_interaction_required(reason: str) -> None:
    assert not policy.needs_fresh_sign_in([reason])
    assert policy.prompt_none_error([reason]) == "interaction_required"


# -- the grace period ------------------------------------------------------------------------------


def test_p2_grace_counts_whole_days_including_today() -> None:
    realm = grace_realm(since=NOW, days=7)
    u = user()
    assert policy.grace_ends(realm, u) == NOW + timedelta(days=7)
    assert policy.grace_days_left(realm, u, NOW) == 7
    assert policy.grace_days_left(realm, u, NOW + timedelta(hours=1)) == 7
    assert policy.grace_days_left(realm, u, NOW + timedelta(days=1)) == 6
    assert policy.grace_days_left(realm, u, NOW + timedelta(days=1, seconds=1)) == 6


def test_p2_grace_last_day_then_none() -> None:
    realm = grace_realm(since=NOW, days=7)
    u = user()
    assert policy.grace_days_left(realm, u, NOW + timedelta(days=6, hours=1)) == 1
    assert policy.grace_days_left(realm, u, NOW + timedelta(days=7, seconds=-1)) == 1
    assert policy.grace_days_left(realm, u, NOW + timedelta(days=7)) == 0
    assert policy.grace_days_left(realm, u, NOW + timedelta(days=30)) == 0


def test_p2_grace_counts_from_account_creation_when_later_than_the_policy() -> None:
    realm = grace_realm(since=NOW - timedelta(days=30), days=7)
    newcomer = user(created=NOW - timedelta(days=2))
    veteran = user(created=NOW - timedelta(days=365))
    assert policy.grace_ends(realm, newcomer) == NOW + timedelta(days=5)
    assert policy.grace_days_left(realm, newcomer, NOW) == 5
    assert policy.grace_ends(realm, veteran) == NOW - timedelta(days=23)
    assert policy.grace_days_left(realm, veteran, NOW) == 0


def test_p2_no_grace_period_when_grace_days_is_zero() -> None:
    realm = grace_realm(since=NOW, days=0)
    assert policy.grace_ends(realm, user()) is None
    assert policy.grace_days_left(realm, user(), NOW) == 0


# -- requirement -----------------------------------------------------------------------------------


def test_requirement_user_with_factor_is_level_2_without_enrolment() -> None:
    req = policy.requirement(ctx(usr=user(factor=True)))
    assert (req.level, req.enrol, req.because) == (2, ENROL_NO, ("enrolled",))
    covered = policy.requirement(
        ctx(usr=user(factor=True), client_requires_2fa=True, realm=grace_realm())
    )
    assert (covered.level, covered.enrol) == (2, ENROL_NO)
    assert covered.because == ("client", "realm")


def test_p3_requirement_client_flag_makes_enrolment_required() -> None:
    req = policy.requirement(ctx(client_requires_2fa=True))
    assert (req.level, req.enrol, req.because) == (2, ENROL_REQUIRED, ("client",))


def test_p3_requirement_essential_acr_makes_enrolment_required() -> None:
    req = policy.requirement(ctx(essential_acr=(PAPE_MFA,)))
    assert (req.level, req.enrol, req.because) == (2, ENROL_REQUIRED, ("essential_acr",))


def test_p2_requirement_realm_in_grace_is_optional_with_days_left() -> None:
    req = policy.requirement(ctx(realm=grace_realm(since=NOW - timedelta(days=2), days=7)))
    assert (req.level, req.enrol) == (2, ENROL_OPTIONAL)
    assert req.grace_days_left == 5
    assert req.because == ("realm",)


def test_p2_requirement_realm_after_grace_is_required() -> None:
    req = policy.requirement(ctx(realm=grace_realm(since=NOW - timedelta(days=8), days=7)))
    assert (req.level, req.enrol, req.grace_days_left) == (2, ENROL_REQUIRED, 0)


def test_p1_requirement_realm_without_grace_is_required() -> None:
    req = policy.requirement(ctx(realm=grace_realm(days=0)))
    assert (req.level, req.enrol, req.because) == (2, ENROL_REQUIRED, ("realm",))


def test_p2_requirement_realm_in_grace_is_optional_for_a_fresh_page_too() -> None:
    # (Re-authentication runs no enrolment at all; the console requires 2FA as a client does.)
    req = policy.requirement(ctx(realm=grace_realm(), fresh=True))
    assert (req.level, req.enrol) == (2, ENROL_OPTIONAL)


def test_p2_requirement_grace_does_not_soften_a_client_requirement() -> None:
    req = policy.requirement(ctx(realm=grace_realm(), client_requires_2fa=True))
    assert (req.level, req.enrol) == (2, ENROL_REQUIRED)
    assert req.because == ("client", "realm")


def test_p3_requirement_voluntary_acr_only_is_level_1() -> None:
    req = policy.requirement(ctx(acr_values=("2",)))
    assert (req.level, req.enrol, req.because) == (1, ENROL_NO, ())


def test_p1_requirement_admins_policy_for_a_non_admin_is_level_1() -> None:
    req = policy.requirement(
        ctx(realm=grace_realm(require=policy.REQUIRE_ADMINS, days=0), usr=user(admin=False))
    )
    assert (req.level, req.enrol) == (1, ENROL_NO)
    admin = policy.requirement(
        ctx(realm=grace_realm(require=policy.REQUIRE_ADMINS, days=0), usr=user(admin=True))
    )
    assert (admin.level, admin.enrol) == (2, ENROL_REQUIRED)


# -- trusted_browser_may_skip ----------------------------------------------------------------------

TRUSTING = RealmPolicy(trust_browser_days=30)


def test_p8_trusted_browser_may_skip_when_the_realm_allows_it() -> None:
    assert policy.trusted_browser_may_skip(ctx(realm=TRUSTING))


def test_p8_trust_is_off_by_default() -> None:
    assert not policy.trusted_browser_may_skip(ctx(realm=RealmPolicy()))


def test_p8_prompt_login_and_max_age_disable_trust() -> None:
    assert not policy.trusted_browser_may_skip(ctx(realm=TRUSTING, prompts={"login"}))
    assert not policy.trusted_browser_may_skip(ctx(realm=TRUSTING, max_age=0))
    assert not policy.trusted_browser_may_skip(ctx(realm=TRUSTING, max_age=3600))


def test_p8_fresh_page_disables_trust() -> None:
    assert not policy.trusted_browser_may_skip(ctx(realm=TRUSTING, fresh=True))


# -- essential_acr (the claims parameter) ----------------------------------------------------------


def test_essential_acr_absent_claims_parameter() -> None:
    assert essential_acr(None) == ()
    assert essential_acr("{}") == ()
    assert essential_acr('{"id_token": {"email": null}}') == ()


def test_essential_acr_from_id_token_and_userinfo() -> None:
    assert essential_acr('{"id_token": {"acr": {"essential": true, "value": "2"}}}') == ("2",)
    claims = json.dumps(
        {
            "userinfo": {"acr": {"essential": True, "values": [PAPE_MFA, "2"]}},
            "id_token": {"acr": {"essential": True, "value": "2"}},
        }
    )
    # id_token first, then userinfo; duplicates once.
    assert essential_acr(claims) == ("2", PAPE_MFA)


@pytest.mark.parametrize(
    "claims",
    [
        '{"id_token": {"acr": null}}',
        '{"id_token": {"acr": {"value": "2"}}}',
        '{"id_token": {"acr": {"essential": false, "value": "2"}}}',
        '{"id_token": null}',
    ],
)
def test_essential_acr_not_essential_is_nothing(claims: str) -> None:
    assert essential_acr(claims) == ()


@pytest.mark.parametrize(
    "claims",
    [
        "not json",
        "",
        "[]",
        '"acr"',
        "null",
        "42",
        '{"id_token": []}',
        '{"userinfo": "acr"}',
        '{"id_token": {"acr": "2"}}',
        '{"id_token": {"acr": ["2"]}}',
        '{"userinfo": {"acr": true}}',
        # SPEC V4: a malformed acr member is refused, never read as nothing essential.
        '{"id_token": {"acr": {"essential": "true", "value": "2"}}}',
        '{"userinfo": {"acr": {"essential": true, "values": ["2", 7]}}}',
    ],
)
def test_essential_acr_rejects_malformed_claims(claims: str) -> None:
    with pytest.raises(ValueError):
        essential_acr(claims)


# -- acr_for and ordered_amr -----------------------------------------------------------------------


def test_acr_for_is_the_level_of_the_amr() -> None:
    assert acr_for(AMR_PASSWORD) == "1"
    assert acr_for(AMR_TOTP) == "2"
    assert acr_for(AMR_BACKUP) == "2"
    assert acr_for(AMR_TOTP, "1 2") == "2"


def test_p3_acr_for_echoes_the_pape_uri_when_asked_and_met() -> None:
    assert acr_for(AMR_TOTP, f"urn:gold {PAPE_MFA}") == PAPE_MFA
    assert acr_for(AMR_TOTP, None, (PAPE_MFA,)) == PAPE_MFA
    assert acr_for(AMR_PASSWORD, PAPE_MFA) == "1"
    assert acr_for(AMR_PASSWORD, None, (PAPE_MFA,)) == "1"


def test_ordered_amr_follows_rfc_8176_order_without_duplicates() -> None:
    assert ordered_amr(["mfa", "otp", "pwd"]) == ["pwd", "otp", "mfa"]
    assert ordered_amr(["trusted_browser", "mfa", "pwd", "pwd"]) == [
        "pwd",
        "mfa",
        "trusted_browser",
    ]
    assert ordered_amr(["backup_code", "mfa", "pwd"]) == ["pwd", "mfa", "backup_code"]
    assert ordered_amr(["x-unknown", "pwd"]) == ["pwd", "x-unknown"]
    assert ordered_amr([]) == []
