"""Unit tests for what a stage does besides ``applies`` (issue 16, "a stage owns its step"):
the page it shows, what a post does, the ``amr`` it proves and the progress it records, on
real database rows and an in-memory interaction, no HTTP. (``tests/test_stages_unit.py``
covers ``applies`` and the order.)"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest

from idp import assurance, clock
from idp.db import get_session
from idp.interaction import policy
from idp.interaction.stages import STAGES, StageContext, stage_for_page
from idp.interaction.steps import Done, Posted, RepeatedField, Show
from idp.models import Interaction, Realm, User


@contextmanager
def stage_context(
    realm: Any,
    test_user: Any,
    *,
    amr: tuple[str, ...] = ("pwd",),
    progress: dict[str, Any] | None = None,
) -> Iterator[StageContext]:
    with realm.server.app.app_context():
        db = get_session()
        row = db.get(Realm, realm.id)
        assert row is not None
        interaction = Interaction(
            uid="x",
            realm_id=row.id,
            browser_digest="",
            kind="authorize",
            params={},
            amr=list(amr),
            progress=dict(progress or {}),
            reason="login",
            expires_at=clock.now() + timedelta(minutes=10),
        )
        user = db.get(User, test_user.id) if test_user is not None else None
        yield StageContext(db=db, realm=row, interaction=interaction, user=user)
        db.rollback()


def post(**form: str) -> Posted:
    return Posted(method="POST", form={k: (v,) for k, v in form.items()})


def test_every_page_belongs_to_one_stage() -> None:
    pages = [page for stage in STAGES for page in stage.pages]
    assert len(pages) == len(set(pages))
    assert stage_for_page("login.backup_code") is stage_for_page("login.totp")
    assert stage_for_page("login.enrol_key") is stage_for_page("login.enrol")


def test_a_repeated_field_is_refused() -> None:
    posted = Posted(method="POST", form={"code": ("1", "2")})
    with pytest.raises(RepeatedField):
        posted.value("code")
    assert posted.value("absent") is None


def test_l1_a_wrong_code_shows_the_page_again_with_401(realm: Any) -> None:
    user = realm.user(with_totp=True)
    stage = stage_for_page("login.totp")
    with stage_context(realm, user) as ctx:
        step = stage.act(ctx, "login.totp", post(code="000000"))
        assert isinstance(step, Show)
        assert (step.template, step.status, step.error) == ("login/totp.html", 401, "wrong_code")
        step = stage.act(ctx, "login.backup_code", post(code="00000000"))
        assert isinstance(step, Show) and step.error == "wrong_backup_code"


def test_l3_a_backup_code_proves_mfa_and_backup_code(realm: Any) -> None:
    user = realm.user(with_totp=True)
    stage = stage_for_page("login.backup_code")
    with stage_context(realm, user) as ctx:
        step = stage.act(ctx, "login.backup_code", post(code=user.backup_codes[0]))
        assert step == Done(amr=assurance.BY_BACKUP_CODE)


def test_b6_the_notice_records_what_was_seen(realm: Any) -> None:
    user = realm.user(with_totp=True)
    stage = stage_for_page("login.notice")
    with stage_context(realm, user, amr=("pwd", "mfa", "backup_code")) as ctx:
        page = stage.show(ctx, "login.notice")
        assert isinstance(page, Show) and page.data["left"] == 10
        assert stage.act(ctx, "login.notice", post(action="continue")) == Done()
        assert ctx.progress == {"notice_seen": True, "offer_seen": True}
        assert stage.applies(ctx) is False


def test_p6_a_new_set_is_shown_once_then_the_walk_goes_on(realm: Any) -> None:
    user = realm.user(with_totp=True)
    offer = stage_for_page("login.offer")
    shown = stage_for_page("login.codes")
    with stage_context(realm, user, amr=("pwd", "otp", "mfa")) as ctx:
        step = offer.act(ctx, "login.offer", post(action="new_codes"))
        assert isinstance(step, Done) and step.then is not None
        assert step.then.template == "login/codes.html" and len(step.then.data["codes"]) == 10
        assert shown.applies(ctx)
        assert shown.act(ctx, "login.codes", post()) == Done()
        assert not shown.applies(ctx) and not offer.applies(ctx)


def test_p2_later_is_taken_only_in_the_grace_period(realm: Any) -> None:
    user = realm.user()
    enrol = stage_for_page("login.enrol")
    realm.set_policy(require_2fa=policy.REQUIRE_ALL, grace_days=7)
    with stage_context(realm, user) as ctx:
        assert enrol.applies(ctx)
        assert enrol.act(ctx, "login.enrol", post(action="later")) == Done()
        assert not enrol.applies(ctx)
    realm.set_policy(require_2fa=policy.REQUIRE_ALL, grace_days=0)
    with stage_context(realm, user) as ctx:
        step = enrol.act(ctx, "login.enrol", post(action="later"))
        assert isinstance(step, Show) and step.status == 400
        assert ctx.progress == {}


def test_p8_a_trusted_browser_is_looked_up_once(realm: Any, monkeypatch: Any) -> None:
    from idp.services import trusted_browsers

    calls: list[str | None] = []
    real = trusted_browsers.find_trust

    def counting(db: Any, realm_row: Any, user_row: Any, token: str | None) -> Any:
        calls.append(token)
        return real(db, realm_row, user_row, token)

    monkeypatch.setattr(trusted_browsers, "find_trust", counting)
    user = realm.user(with_totp=True)
    realm.set_policy(trust_browser_days=30)
    with stage_context(realm, user) as ctx:
        ctx.trust_token = "not a trust"
        trusted = stage_for_page("login.trusted")
        for _ in range(3):
            assert not trusted.applies(ctx)
        assert calls == ["not a trust"]
