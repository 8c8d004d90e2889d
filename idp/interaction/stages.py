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
from .enrolment import (
    FEW_CODES_LEFT,
    BackupCodeNoticeStage,
    BackupCodesShownStage,
    EnrolStage,
    FewCodesLeftStage,
)
from .second_factor import SecondFactorStage, SecurityKeyStage, TrustedBrowserStage
from .stage import Stage, StageContext

__all__ = [
    "FEW_CODES_LEFT",
    "STAGES",
    "BackupCodeNoticeStage",
    "BackupCodesShownStage",
    "EnrolStage",
    "FewCodesLeftStage",
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
    """Email and password (SPEC L1). Skipped by a step-up: the session proved ``pwd``; and
    after a passkey sign-in (issue 10), which proved ``hwk`` with user verification. Its
    page (``web/login.py``) identifies the user, so it runs before a user is known."""

    proves: ClassVar[tuple[str, ...]] = assurance.BY_PASSWORD

    def applies(self, ctx: StageContext) -> bool:
        return assurance.PASSWORD not in ctx.amr and assurance.HARDWARE_KEY not in ctx.amr


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

_BY_PAGE: dict[str, Stage] = {page: stage for stage in STAGES for page in stage.pages}


def stage_for_page(endpoint: str) -> Stage:
    """The stage whose page ``endpoint`` is."""
    return _BY_PAGE[endpoint]


def next_stage(ctx: StageContext, stages: list[Stage] = STAGES) -> Stage | None:
    for stage in stages:
        if stage.applies(ctx):
            return stage
    return None
