"""Unit tests for each sign-in stage's ``applies`` and for ``next_stage``
(``idp/interaction/stages.py``): a ``StageContext`` on real database rows (a fresh realm per
test) and an in-memory interaction, no HTTP. Named after the SPEC section 6 rule they prove
where one applies."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy.orm import Session

from idp import clock
from idp.db import get_session
from idp.interaction import policy
from idp.interaction.stages import (
    STAGES,
    BackupCodeNoticeStage,
    BackupCodesShownStage,
    EnrolStage,
    FewCodesLeftStage,
    PasswordStage,
    SecondFactorStage,
    StageContext,
    TrustedBrowserStage,
    next_stage,
)
from idp.models import Interaction, Realm, User
from idp.services.backup_codes import consume_backup_code

AMR_PASSWORD = ["pwd"]
AMR_TOTP = ["pwd", "otp", "mfa"]
AMR_BACKUP = ["pwd", "mfa", "backup_code"]

if TYPE_CHECKING:  # imported for annotations only: pytest would collect Test* classes
    from tests.conftest import TestRealm, TestUser

PASSWORD = PasswordStage("password", "login.password")
TRUSTED = TrustedBrowserStage("trusted_browser", "login.trusted")
SECOND = SecondFactorStage("second_factor", "login.totp")
ENROL = EnrolStage("enrol", "login.enrol")
CODES = BackupCodesShownStage("backup_codes", "login.codes")
NOTICE = BackupCodeNoticeStage("backup_code_notice", "login.notice")
FEW = FewCodesLeftStage("few_codes_left", "login.offer")


@dataclass
class Rows:
    db: Session
    realm: Realm

    def user(self, test_user: TestUser | None) -> User | None:
        return None if test_user is None else self.db.get(User, test_user.id)

    def ctx(
        self,
        test_user: TestUser | None,
        *,
        amr: list[str] | tuple[str, ...] = (),
        progress: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        reason: str = "login",
        trusted: bool = False,
    ) -> StageContext:
        interaction = Interaction(
            uid="x",
            realm_id=self.realm.id,
            browser_digest="",
            kind="authorize",
            params=dict(params or {}),
            amr=list(amr),
            progress=dict(progress or {}),
            reason=reason,
            expires_at=clock.now() + timedelta(minutes=10),
        )
        return StageContext(
            db=self.db,
            realm=self.realm,
            interaction=interaction,
            user=self.user(test_user),
            trusted=trusted,
        )

    def set_policy(
        self,
        require_2fa: str = policy.REQUIRE_ALL,
        *,
        grace_days: int = 0,
        trust_browser_days: int | None = None,
    ) -> None:
        self.realm.require_2fa = require_2fa
        self.realm.require_2fa_since = clock.now()
        self.realm.grace_days = grace_days
        if trust_browser_days is not None:
            self.realm.trust_browser_days = trust_browser_days


@contextmanager
def opened(realm: TestRealm) -> Iterator[Rows]:
    """The realm's rows in an app context. Create the test users before opening it: the
    fixtures write in their own app context."""
    with realm.server.app.app_context():
        db = get_session()
        row = db.get(Realm, realm.id)
        assert row is not None
        yield Rows(db, row)


def use_backup_codes(realm: TestRealm, test_user: TestUser, count: int) -> None:
    with opened(realm) as rows:
        user = rows.user(test_user)
        for code in test_user.backup_codes[:count]:
            consume_backup_code(rows.db, user, code)
        rows.db.commit()


@pytest.fixture
def totp_user(realm: TestRealm) -> TestUser:
    return realm.user(with_totp=True)


@pytest.fixture
def plain_user(realm: TestRealm) -> TestUser:
    return realm.user()


def test_stage_order() -> None:
    assert [stage.name for stage in STAGES] == [
        "password",
        "trusted_browser",
        "security_key",  # issue 10: a user with a key is offered it first
        "second_factor",
        "enrol",
        "backup_codes",
        "backup_code_notice",
        "few_codes_left",
    ]


# -- PasswordStage ---------------------------------------------------------------------------------


def test_password_stage_applies_before_anyone_is_known(realm: TestRealm) -> None:
    with opened(realm) as rows:
        ctx = rows.ctx(None)
        assert PASSWORD.applies(ctx)
        assert next_stage(ctx) is STAGES[0]


def test_p3_step_up_skips_the_password_stage(realm: TestRealm, totp_user: TestUser) -> None:
    with opened(realm) as rows:
        ctx = rows.ctx(totp_user, amr=AMR_PASSWORD, params={"acr_values": "2"})
        assert not PASSWORD.applies(ctx)
        assert next_stage(ctx).name == "second_factor"


# -- TrustedBrowserStage ---------------------------------------------------------------------------


def test_p8_trusted_browser_stands_in_for_the_code(realm: TestRealm, totp_user: TestUser) -> None:
    with opened(realm) as rows:
        rows.realm.trust_browser_days = 30
        ctx = rows.ctx(totp_user, amr=AMR_PASSWORD, trusted=True)
        assert TRUSTED.applies(ctx)
        assert next_stage(ctx).name == "trusted_browser"


def test_p8_untrusted_browser_is_asked_for_the_code(realm: TestRealm, totp_user: TestUser) -> None:
    with opened(realm) as rows:
        rows.realm.trust_browser_days = 30
        ctx = rows.ctx(totp_user, amr=AMR_PASSWORD, trusted=False)
        assert not TRUSTED.applies(ctx)
        assert next_stage(ctx).name == "second_factor"


def test_p8_trust_off_in_the_realm_ignores_a_trusted_browser(
    realm: TestRealm, totp_user: TestUser
) -> None:
    with opened(realm) as rows:
        rows.realm.trust_browser_days = 0
        ctx = rows.ctx(totp_user, amr=AMR_PASSWORD, trusted=True)
        assert not TRUSTED.applies(ctx)
        assert next_stage(ctx).name == "second_factor"


def test_p8_trusted_browser_needs_a_user_with_a_factor(
    realm: TestRealm, plain_user: TestUser
) -> None:
    with opened(realm) as rows:
        rows.realm.trust_browser_days = 30
        assert not TRUSTED.applies(rows.ctx(plain_user, amr=AMR_PASSWORD, trusted=True))


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"prompt": "login"}, "login"),
        ({"max_age": "3600"}, "login"),
        ({"max_age": "0"}, "login"),
        ({}, "reauth"),
        ({}, "console_2fa"),
    ],
)
def test_p8_prompt_login_max_age_and_reauth_disable_trust(
    realm: TestRealm, totp_user: TestUser, params: dict[str, str], reason: str
) -> None:
    with opened(realm) as rows:
        rows.realm.trust_browser_days = 30
        ctx = rows.ctx(totp_user, amr=AMR_PASSWORD, trusted=True, params=params, reason=reason)
        assert not TRUSTED.applies(ctx)
        assert next_stage(ctx).name == "second_factor"


def test_p8_trusted_browser_not_after_the_code(realm: TestRealm, totp_user: TestUser) -> None:
    with opened(realm) as rows:
        rows.realm.trust_browser_days = 30
        assert not TRUSTED.applies(rows.ctx(totp_user, amr=AMR_TOTP, trusted=True))


# -- SecondFactorStage -----------------------------------------------------------------------------


def test_second_factor_stage_for_a_user_with_a_factor(
    realm: TestRealm, totp_user: TestUser
) -> None:
    with opened(realm) as rows:
        assert SECOND.applies(rows.ctx(totp_user, amr=AMR_PASSWORD))
        assert not SECOND.applies(rows.ctx(totp_user, amr=AMR_TOTP))
        assert not SECOND.applies(rows.ctx(totp_user, amr=AMR_BACKUP))


def test_second_factor_stage_not_for_a_user_without_one(
    realm: TestRealm, plain_user: TestUser
) -> None:
    with opened(realm) as rows:
        assert not SECOND.applies(rows.ctx(plain_user, amr=AMR_PASSWORD))
        assert not SECOND.applies(rows.ctx(None))


# -- EnrolStage ------------------------------------------------------------------------------------


def test_p3_client_requiring_2fa_leads_to_enrolment(realm: TestRealm, plain_user: TestUser) -> None:
    strict, _ = realm.client(require_2fa=True)
    lenient, _ = realm.client()
    with opened(realm) as rows:
        ctx = rows.ctx(plain_user, amr=AMR_PASSWORD, params={"client_id": strict})
        assert ctx.requirement.enrol == policy.ENROL_REQUIRED
        assert ENROL.applies(ctx)
        assert next_stage(ctx).name == "enrol"
        other = rows.ctx(plain_user, amr=AMR_PASSWORD, params={"client_id": lenient})
        assert not ENROL.applies(other)
        assert next_stage(other) is None


def test_p3_client_requiring_2fa_user_with_factor_is_not_enrolled_again(
    realm: TestRealm, totp_user: TestUser
) -> None:
    strict, _ = realm.client(require_2fa=True)
    with opened(realm) as rows:
        ctx = rows.ctx(totp_user, amr=AMR_PASSWORD, params={"client_id": strict})
        assert not ENROL.applies(ctx)
        assert next_stage(ctx).name == "second_factor"


def test_enrolment_waits_for_the_password(realm: TestRealm, plain_user: TestUser) -> None:
    strict, _ = realm.client(require_2fa=True)
    with opened(realm) as rows:
        ctx = rows.ctx(plain_user, params={"client_id": strict})
        assert not ENROL.applies(ctx)
        assert next_stage(ctx).name == "password"


def test_p3_essential_acr_leads_to_enrolment(realm: TestRealm, plain_user: TestUser) -> None:
    claims = '{"id_token": {"acr": {"essential": true, "value": "2"}}}'
    with opened(realm) as rows:
        ctx = rows.ctx(plain_user, amr=AMR_PASSWORD, params={"claims": claims})
        assert ENROL.applies(ctx)


def test_p3_voluntary_acr_never_makes_anyone_enrol(realm: TestRealm, plain_user: TestUser) -> None:
    with opened(realm) as rows:
        ctx = rows.ctx(plain_user, amr=AMR_PASSWORD, params={"acr_values": "2"})
        assert not ENROL.applies(ctx)
        assert next_stage(ctx) is None


def test_console_2fa_page_requires_enrolment(realm: TestRealm, plain_user: TestUser) -> None:
    with opened(realm) as rows:
        ctx = rows.ctx(plain_user, amr=AMR_PASSWORD, reason="console_2fa")
        assert ENROL.applies(ctx)


def test_p1_realm_policy_all_requires_enrolment(realm: TestRealm, plain_user: TestUser) -> None:
    with opened(realm) as rows:
        rows.set_policy(policy.REQUIRE_ALL, grace_days=0)
        ctx = rows.ctx(plain_user, amr=AMR_PASSWORD)
        assert ctx.requirement.enrol == policy.ENROL_REQUIRED
        assert ENROL.applies(ctx)
        # Required: "Later" is not offered, so a postponement does not skip it.
        assert ENROL.applies(rows.ctx(plain_user, amr=AMR_PASSWORD, progress={"postponed": True}))


def test_p1_admins_policy_enrols_admins_only(realm: TestRealm, plain_user: TestUser) -> None:
    admin = realm.user(admin=True)
    with opened(realm) as rows:
        rows.set_policy(policy.REQUIRE_ADMINS, grace_days=0)
        assert ENROL.applies(rows.ctx(admin, amr=AMR_PASSWORD))
        assert not ENROL.applies(rows.ctx(plain_user, amr=AMR_PASSWORD))


def test_p2_enrolment_optional_in_grace_and_skipped_once_postponed(
    realm: TestRealm, plain_user: TestUser
) -> None:
    with opened(realm) as rows:
        rows.set_policy(policy.REQUIRE_ALL, grace_days=7)
        ctx = rows.ctx(plain_user, amr=AMR_PASSWORD)
        assert ctx.requirement.enrol == policy.ENROL_OPTIONAL
        assert ctx.requirement.grace_days_left == 7
        assert ENROL.applies(ctx)
        later = rows.ctx(plain_user, amr=AMR_PASSWORD, progress={"postponed": True})
        assert not ENROL.applies(later)
        assert next_stage(later) is None


def test_p2_after_grace_enrolment_is_required_even_if_postponed(
    realm: TestRealm, plain_user: TestUser
) -> None:
    with opened(realm) as rows:
        rows.set_policy(policy.REQUIRE_ALL, grace_days=7)
        try:
            clock.travel(days=7, seconds=1)
            ctx = rows.ctx(plain_user, amr=AMR_PASSWORD, progress={"postponed": True})
            assert ctx.requirement.enrol == policy.ENROL_REQUIRED
            assert ENROL.applies(ctx)
        finally:
            clock.reset()


def test_p1_p2_console_requires_enrolment_without_grace(
    realm: TestRealm, plain_user: TestUser
) -> None:
    with opened(realm) as rows:
        rows.set_policy(policy.REQUIRE_ALL, grace_days=7)
        ctx = rows.ctx(
            plain_user, amr=AMR_PASSWORD, reason="console_2fa", progress={"postponed": True}
        )
        assert ctx.requirement.enrol == policy.ENROL_REQUIRED
        assert ENROL.applies(ctx)


def test_reauth_never_runs_enrolment(realm: TestRealm, plain_user: TestUser) -> None:
    # Re-authentication proves the factors one has (before enabling 2FA, for example).
    with opened(realm) as rows:
        rows.set_policy(policy.REQUIRE_ALL, grace_days=0)
        ctx = rows.ctx(plain_user, amr=AMR_PASSWORD, reason="reauth")
        assert ctx.requirement.enrol == policy.ENROL_REQUIRED
        assert not ENROL.applies(ctx)
        assert ENROL.applies(rows.ctx(plain_user, amr=AMR_PASSWORD, reason="login"))


def test_p1_user_with_factor_is_not_enrolled_by_the_realm(
    realm: TestRealm, totp_user: TestUser
) -> None:
    with opened(realm) as rows:
        rows.set_policy(policy.REQUIRE_ALL, grace_days=0)
        assert not ENROL.applies(rows.ctx(totp_user, amr=AMR_PASSWORD))


# -- BackupCodesShownStage -------------------------------------------------------------------------


def test_codes_shown_stage_while_codes_are_pending(realm: TestRealm, totp_user: TestUser) -> None:
    with opened(realm) as rows:
        pending = rows.ctx(totp_user, amr=AMR_TOTP, progress={"codes_pending": True})
        assert CODES.applies(pending)
        assert next_stage(pending).name == "backup_codes"
        assert not CODES.applies(rows.ctx(totp_user, amr=AMR_TOTP))
        assert not CODES.applies(
            rows.ctx(totp_user, amr=AMR_TOTP, progress={"codes_pending": False})
        )


# -- BackupCodeNoticeStage -------------------------------------------------------------------------


def test_notice_after_a_backup_code_sign_in(realm: TestRealm, totp_user: TestUser) -> None:
    with opened(realm) as rows:
        ctx = rows.ctx(totp_user, amr=AMR_BACKUP)
        assert NOTICE.applies(ctx)
        assert next_stage(ctx).name == "backup_code_notice"
        seen = rows.ctx(totp_user, amr=AMR_BACKUP, progress={"notice_seen": True})
        assert not NOTICE.applies(seen)


def test_no_notice_after_a_totp_sign_in(realm: TestRealm, totp_user: TestUser) -> None:
    with opened(realm) as rows:
        assert not NOTICE.applies(rows.ctx(totp_user, amr=AMR_TOTP))
        assert not NOTICE.applies(rows.ctx(totp_user, amr=AMR_PASSWORD))


# -- FewCodesLeftStage -----------------------------------------------------------------------------


def test_p6_many_codes_left_no_offer(realm: TestRealm, totp_user: TestUser) -> None:
    use_backup_codes(realm, totp_user, 6)  # 4 left
    with opened(realm) as rows:
        ctx = rows.ctx(totp_user, amr=AMR_TOTP)
        assert ctx.unused_codes == 4
        assert not FEW.applies(ctx)
        assert next_stage(ctx) is None


def test_p6_three_codes_left_offers_a_new_set(realm: TestRealm, totp_user: TestUser) -> None:
    use_backup_codes(realm, totp_user, 7)  # 3 left
    with opened(realm) as rows:
        ctx = rows.ctx(totp_user, amr=AMR_TOTP)
        assert ctx.unused_codes == 3
        assert FEW.applies(ctx)
        assert next_stage(ctx).name == "few_codes_left"


def test_p6_offer_not_before_the_second_factor(realm: TestRealm, totp_user: TestUser) -> None:
    use_backup_codes(realm, totp_user, 8)
    with opened(realm) as rows:
        ctx = rows.ctx(totp_user, amr=AMR_PASSWORD)
        assert not FEW.applies(ctx)
        assert next_stage(ctx).name == "second_factor"


def test_p6_offer_not_after_codes_were_issued_in_this_sign_in(
    realm: TestRealm, totp_user: TestUser
) -> None:
    use_backup_codes(realm, totp_user, 8)
    with opened(realm) as rows:
        assert not FEW.applies(rows.ctx(totp_user, amr=AMR_TOTP, progress={"codes_issued": True}))


def test_p6_offer_shown_once(realm: TestRealm, totp_user: TestUser) -> None:
    use_backup_codes(realm, totp_user, 8)
    with opened(realm) as rows:
        ctx = rows.ctx(totp_user, amr=AMR_TOTP, progress={"offer_seen": True})
        assert not FEW.applies(ctx)
        assert next_stage(ctx) is None


def test_p6_backup_code_sign_in_shows_notice_then_offer(
    realm: TestRealm, totp_user: TestUser
) -> None:
    use_backup_codes(realm, totp_user, 7)  # the sign-in's own code among them: 3 left
    with opened(realm) as rows:
        assert next_stage(rows.ctx(totp_user, amr=AMR_BACKUP)).name == "backup_code_notice"
        after_notice = rows.ctx(totp_user, amr=AMR_BACKUP, progress={"notice_seen": True})
        assert next_stage(after_notice).name == "few_codes_left"
        done = rows.ctx(
            totp_user, amr=AMR_BACKUP, progress={"notice_seen": True, "offer_seen": True}
        )
        assert next_stage(done) is None


# -- next_stage over a whole sign-in ---------------------------------------------------------------


def test_next_stage_walks_a_totp_sign_in(realm: TestRealm, totp_user: TestUser) -> None:
    with opened(realm) as rows:
        assert next_stage(rows.ctx(totp_user)).name == "password"
        assert next_stage(rows.ctx(totp_user, amr=AMR_PASSWORD)).name == "second_factor"
        assert next_stage(rows.ctx(totp_user, amr=AMR_TOTP)) is None


def test_next_stage_password_only_user_is_done_after_the_password(
    realm: TestRealm, plain_user: TestUser
) -> None:
    with opened(realm) as rows:
        assert next_stage(rows.ctx(plain_user)).name == "password"
        assert next_stage(rows.ctx(plain_user, amr=AMR_PASSWORD)) is None


def test_next_stage_codes_shown_before_the_notice(realm: TestRealm, totp_user: TestUser) -> None:
    with opened(realm) as rows:
        ctx = rows.ctx(totp_user, amr=AMR_BACKUP, progress={"codes_pending": True})
        assert next_stage(ctx).name == "backup_codes"


def test_next_stage_with_only_the_stages_given(realm: TestRealm, totp_user: TestUser) -> None:
    with opened(realm) as rows:
        ctx = rows.ctx(totp_user, amr=AMR_BACKUP)
        assert next_stage(ctx, [FEW, NOTICE]) is NOTICE
        assert next_stage(ctx, [FEW]) is None
