"""Sign-in is an ordered list of stages (as in django-allauth, or Keycloak's authenticators).
Each stage owns its step (``stage.Stage``): it decides whether it applies, says what its page
shows, checks what was posted (calling its services), names the ``amr`` values it proves and
records its own progress. The walk (``interaction.walk``) runs the first stage that applies
and finishes the sign-in when none is left; a page only hands the stage the request and
draws what it answers. Adding a factor is adding a stage to ``STAGES``.

A step-up starts from the signed-in user with the factors the session already proved in
``interaction.amr``: the password stage then does not apply, and only the missing stages run.
"""

from __future__ import annotations

from typing import ClassVar

from .. import assurance
from ..services import security_keys
from ..services.errors import AccountDisabled, InvalidCredentials, TooManyAttempts
from ..services.users import authenticate_password
from .enrolment import (
    FEW_CODES_LEFT,
    BackupCodeNoticeStage,
    BackupCodesShownStage,
    EnrolStage,
    FewCodesLeftStage,
)
from .passkey import PasskeyStage
from .second_factor import SecondFactorStage, SecurityKeyStage, TrustedBrowserStage
from .stage import Stage, StageContext
from .steps import Done, Posted, Show, Step

__all__ = [
    "FEW_CODES_LEFT",
    "STAGES",
    "BackupCodeNoticeStage",
    "BackupCodesShownStage",
    "EnrolStage",
    "FewCodesLeftStage",
    "PasskeyStage",
    "PasswordStage",
    "SecondFactorStage",
    "SecurityKeyStage",
    "Stage",
    "StageContext",
    "TrustedBrowserStage",
    "next_stage",
    "stage_for_page",
]


class PasswordStage(Stage):
    """Email and password (SPEC L1): the stage that identifies the user, so its page runs
    before anyone is known. Skipped by a step-up: the session proved ``pwd``; and after a
    passkey sign-in (issue 10), which proved ``hwk`` with user verification. A sign-in that
    presets its user (re-authentication) takes that user's password only."""

    proves: ClassVar[tuple[str, ...]] = assurance.BY_PASSWORD
    TEMPLATE: ClassVar[str] = "login/password.html"

    def applies(self, ctx: StageContext) -> bool:
        return assurance.PASSWORD not in ctx.amr and assurance.HARDWARE_KEY not in ctx.amr

    def runs_now(self, ctx: StageContext, due: Stage | None) -> bool:
        return assurance.PASSWORD not in ctx.amr

    def _page(self, ctx: StageContext, email: str | None = None, **extra: object) -> Show:
        preset = ctx.user
        if email is None:
            email = preset.email if preset else (ctx.interaction.login_hint or "")
        data = {
            "preset": preset,
            "email": email,
            # issue 10: "Sign in with a passkey", where the realm allows it
            "passkeys": security_keys.available() and ctx.realm.passkey_sign_in,
        }
        return Show(self.TEMPLATE, data, signing_in_as=False, **extra)  # type: ignore[arg-type]

    def show(self, ctx: StageContext, page: str) -> Step:
        return self._page(ctx)

    def act(self, ctx: StageContext, page: str, posted: Posted) -> Step:
        email = posted.value("email") or ""
        secret = posted.value("password") or ""
        preset = ctx.user
        if preset is not None:
            email = preset.email
        try:
            user = authenticate_password(
                ctx.db, ctx.realm, email, secret, client_address=posted.client_address
            )
            if preset is not None and user.id != preset.id:
                raise InvalidCredentials()
        except TooManyAttempts as exc:
            ctx.db.commit()
            return self._page(ctx, email, status=429, wait=exc.retry_after, form_id="sign-in-form")
        except (InvalidCredentials, AccountDisabled) as exc:
            ctx.db.commit()
            wrong = isinstance(exc, InvalidCredentials)
            return self._page(
                ctx, email, status=401, error="wrong_password" if wrong else "account_disabled"
            )
        return Done(amr=self.proves, user=user)


STAGES: list[Stage] = [
    PasswordStage("password", "login.password"),
    TrustedBrowserStage("trusted_browser", "login.trusted"),
    SecurityKeyStage("security_key", "login.webauthn"),
    SecondFactorStage(
        "second_factor", "login.totp", also=("login.backup_code",), alternative_to=("security_key",)
    ),
    EnrolStage("enrol", "login.enrol", also=(EnrolStage.KEY_PAGE,)),
    BackupCodesShownStage("backup_codes", "login.codes"),
    BackupCodeNoticeStage("backup_code_notice", "login.notice"),
    FewCodesLeftStage("few_codes_left", "login.offer"),
]

#: Pages that run in place of a stage of ``STAGES`` and are never walked to.
ALTERNATIVES: list[Stage] = [
    PasskeyStage("passkey", "login.passkey", alternative_to=("password",)),
]

_BY_PAGE: dict[str, Stage] = {
    page: stage for stage in (*STAGES, *ALTERNATIVES) for page in stage.pages
}


def stage_for_page(endpoint: str) -> Stage:
    """The stage whose page ``endpoint`` is."""
    return _BY_PAGE[endpoint]


def next_stage(ctx: StageContext, stages: list[Stage] = STAGES) -> Stage | None:
    for stage in stages:
        if stage.applies(ctx):
            return stage
    return None
