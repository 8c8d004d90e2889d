"""Sign-in is an ordered list of stages (as in django-allauth). Each stage decides whether it
applies to the interaction at hand; the pages run the first one that does, and the sign-in
finishes when none is left. Adding a factor (WebAuthn) is adding a stage here.

A step-up starts from the signed-in user with the factors the session already proved in
``interaction.amr``: the password stage then does not apply, and only the missing stages run.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from ..models import Interaction, Realm, User
from ..services import backup_codes, security_keys
from ..services.factors import has_second_factor
from . import policy
from .context import policy_context

#: A sign-in that leaves this many unused backup codes or fewer offers a new set (SPEC P6).
FEW_CODES_LEFT = 3


@dataclass
class StageContext:
    """What the stages look at: the interaction, its user and realm, and whether this
    browser holds a valid trust for the user (SPEC P8, found by the web layer)."""

    db: Session
    realm: Realm
    interaction: Interaction
    user: User | None
    trusted: bool = False
    _cache: dict[str, Any] = field(default_factory=dict)

    @property
    def amr(self) -> list[str]:
        return list(self.interaction.amr or [])

    @property
    def progress(self) -> dict[str, object]:
        return dict(self.interaction.progress or {})

    # Cached by hand: functools.cached_property holds a class-wide lock on Python 3.11,
    # which deadlocks against the database's write lock across request threads.
    def _once(self, name: str, compute: Callable[[], Any]) -> Any:
        if name not in self._cache:
            self._cache[name] = compute()
        return self._cache[name]

    @property
    def has_second_factor(self) -> bool:
        user = self.user
        return self._once(
            "has_second_factor", lambda: user is not None and has_second_factor(self.db, user)
        )

    @property
    def has_security_key(self) -> bool:
        user = self.user
        return self._once(
            "has_security_key",
            lambda: user is not None and bool(security_keys.count_keys(self.db, [user.id])),
        )

    @property
    def policy(self) -> policy.Context:
        return self._once(
            "policy", lambda: policy_context(self.db, self.realm, self.interaction, self.user)
        )

    @property
    def requirement(self) -> policy.Requirement:
        return self._once("requirement", lambda: policy.requirement(self.policy))

    @property
    def unused_codes(self) -> int:
        assert self.user is not None
        user_id = self.user.id
        return self._once("unused", lambda: backup_codes.count_unused(self.db, user_id))


@dataclass(frozen=True)
class Stage(ABC):
    name: str
    #: endpoint of the page that runs the stage
    endpoint: str

    @abstractmethod
    def applies(self, ctx: StageContext) -> bool:
        """Whether this stage still has to run for this interaction and user."""


class PasswordStage(Stage):
    """Email and password (SPEC L1). Skipped by a step-up: the session proved ``pwd``; and
    after a passkey sign-in (issue 10), which proved ``hwk`` with user verification."""

    def applies(self, ctx: StageContext) -> bool:
        return "pwd" not in ctx.amr and "hwk" not in ctx.amr


class TrustedBrowserStage(Stage):
    """A trusted browser stands in for the code (SPEC P8): amr gains ``mfa`` and
    ``trusted_browser``, no page is shown."""

    def applies(self, ctx: StageContext) -> bool:
        return (
            ctx.trusted
            and "mfa" not in ctx.amr
            and ctx.has_second_factor
            and policy.trusted_browser_may_skip(ctx.policy)
        )


class SecurityKeyStage(Stage):
    """A user with a security key is offered it first (issue 10); its page links to the
    authenticator app and the backup code, whose pages accept this stage too."""

    def applies(self, ctx: StageContext) -> bool:
        return (
            ctx.user is not None
            and "mfa" not in ctx.amr
            and ctx.has_second_factor  # cached, shared with the other stages
            and ctx.has_security_key
        )


class SecondFactorStage(Stage):
    """TOTP security code, or a backup code instead (SPEC L1, L3)."""

    def applies(self, ctx: StageContext) -> bool:
        return ctx.user is not None and "mfa" not in ctx.amr and ctx.has_second_factor


class EnrolStage(Stage):
    """A user a policy covers, without a second factor, sets one up inside the sign-in: QR,
    key and code, then the backup codes (SPEC P1, P3, P5). In the grace period it offers
    "Later" (SPEC P2)."""

    def applies(self, ctx: StageContext) -> bool:
        if ctx.user is None or "pwd" not in ctx.amr or ctx.has_second_factor:
            return False
        if ctx.interaction.reason == "reauth":
            return False  # proving the factors one has, before a change (e.g. enabling 2FA)
        enrol = ctx.requirement.enrol
        if enrol == policy.ENROL_REQUIRED:
            return True
        return enrol == policy.ENROL_OPTIONAL and not ctx.progress.get("postponed")


class BackupCodesShownStage(Stage):
    """The backup codes issued inside this sign-in (at enrolment, or a new set) are shown
    once, with Continue."""

    def applies(self, ctx: StageContext) -> bool:
        return bool(ctx.progress.get("codes_pending"))


class BackupCodeNoticeStage(Stage):
    """After a backup-code sign-in: how many codes are left, and the advice to set 2FA up
    again (SPEC B6)."""

    def applies(self, ctx: StageContext) -> bool:
        return "backup_code" in ctx.amr and not ctx.progress.get("notice_seen")


class FewCodesLeftStage(Stage):
    """A sign-in with a second factor that leaves 3 or fewer unused backup codes offers a
    new set; the user may take it or continue (SPEC P6)."""

    def applies(self, ctx: StageContext) -> bool:
        if ctx.user is None or "mfa" not in ctx.amr or not ctx.has_second_factor:
            return False
        if ctx.progress.get("offer_seen") or ctx.progress.get("codes_issued"):
            return False
        return ctx.unused_codes <= FEW_CODES_LEFT


STAGES: list[Stage] = [
    PasswordStage("password", "login.password"),
    TrustedBrowserStage("trusted_browser", "login.trusted"),
    SecurityKeyStage("security_key", "login.webauthn"),
    SecondFactorStage("second_factor", "login.totp"),
    EnrolStage("enrol", "login.enrol"),
    BackupCodesShownStage("backup_codes", "login.codes"),
    BackupCodeNoticeStage("backup_code_notice", "login.notice"),
    FewCodesLeftStage("few_codes_left", "login.offer"),
]


def next_stage(ctx: StageContext, stages: list[Stage] = STAGES) -> Stage | None:
    for stage in stages:
        if stage.applies(ctx):
            return stage
    return None
