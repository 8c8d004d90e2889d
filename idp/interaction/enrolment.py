"""The stages after the factors are proven, about setting one up and the backup codes:
enrolment inside the sign-in (SPEC P1, P2, P3, P5; a security key instead, issue 10), the
backup codes issued in it, shown once (B1), the notice after a backup-code sign-in (B6) and
the offer of a new set when few are left (P6)."""

from __future__ import annotations

from typing import ClassVar

from .. import assurance
from ..services import backup_codes, factors, security_key_flows, security_keys, users
from ..services.errors import InvalidCode, InvalidInput, NotFound
from . import flow, policy
from .context import second_factor_required_by
from .stage import (
    CODES_ISSUED,
    CODES_PENDING,
    NOTICE_SEEN,
    OFFER_SEEN,
    POSTPONED,
    Stage,
    StageContext,
    actor,
    codes_page,
)
from .steps import Done, Posted, Show, Step

#: A sign-in that leaves this many unused backup codes or fewer offers a new set (SPEC P6).
FEW_CODES_LEFT = 3


class EnrolStage(Stage):
    """A user a policy covers, without a second factor, sets one up inside the sign-in: QR,
    key and code, then the backup codes (SPEC P1, P3, P5). In the grace period it offers
    "Later" (SPEC P2). A security key may be set up instead (its form posts to the
    ``login.enrol_key`` page, issue 10). Enabling ends the user's other sessions (they used
    the password alone); a step-up keeps the session it started from until it finishes and
    replaces it."""

    KEY_PAGE: ClassVar[str] = "login.enrol_key"

    def applies(self, ctx: StageContext) -> bool:
        if ctx.user is None or assurance.PASSWORD not in ctx.amr or ctx.has_second_factor:
            return False
        if ctx.interaction.reason == "reauth":
            return False  # proving the factors one has, before a change (e.g. enabling 2FA)
        enrol = ctx.requirement.enrol
        if enrol == policy.ENROL_REQUIRED:
            return True
        return enrol == policy.ENROL_OPTIONAL and not ctx.progress.get(POSTPONED)

    def _page(
        self, ctx: StageContext, *, status: int = 200, error: str | None = None, **extra: object
    ) -> Show:
        requirement = ctx.requirement
        key_options = None
        if security_keys.available():
            key_options = security_keys.registration_options(
                ctx.db,
                ctx.realm,
                ctx.known_user,
                binding=security_keys.interaction_binding(ctx.interaction.id),
            )
            ctx.db.commit()
        data = {
            "optional": requirement.enrol == policy.ENROL_OPTIONAL,
            "days_left": requirement.grace_days_left,
            "because": requirement.because,
            "key_options": key_options,
            **extra,
        }
        return Show("login/enrol.html", data, status=status, error=error, totp_enrolment=True)

    def show(self, ctx: StageContext, page: str) -> Step:
        if page == self.KEY_PAGE:
            return Done(advance=False)  # the key's form only posts
        return self._page(ctx)

    def act(self, ctx: StageContext, page: str, posted: Posted) -> Step:
        if page == self.KEY_PAGE:
            return self._add_key(ctx, posted)
        user = ctx.known_user
        if posted.value("action") == "later":
            if ctx.requirement.enrol != policy.ENROL_OPTIONAL:
                return self._page(ctx, status=400)
            ctx.record(**{POSTPONED: True})
            return Done()
        # Mail about the new key is in the sign-in's language (rolled back with a wrong code).
        users.record_locale(user, ctx.locale)
        try:
            codes = factors.enable_totp(
                ctx.db,
                user,
                posted.value("code"),
                actor=actor(ctx),
                client_address=posted.client_address,
                keep_sid=ctx.interaction.from_sid,
            )
        except (InvalidCode, NotFound):
            ctx.db.rollback()
            return self._page(ctx, status=400, error="wrong_code")
        return self._enabled(ctx, assurance.BY_TOTP, codes)

    def _enabled(self, ctx: StageContext, amr: tuple[str, ...], codes: list[str] | None) -> Done:
        flow.keep_after_own_change(ctx.interaction, ctx.known_user)  # this sign-in goes on
        if codes is None:  # a factor appeared meanwhile (another tab): nothing to show
            return Done(amr=amr, refresh=True)
        ctx.record(**{CODES_PENDING: True, CODES_ISSUED: True})
        return Done(amr=amr, then=codes_page(codes, enabled_now=True), refresh=True)

    def _add_key(self, ctx: StageContext, posted: Posted) -> Step:
        if not security_keys.available():
            return Done(advance=False)
        user = ctx.known_user
        name = posted.value("name") or ""
        # Mail about 2FA turning on is in the sign-in's language.
        users.record_locale(user, ctx.locale)
        try:
            added = security_key_flows.add_security_key(
                ctx.db,
                ctx.realm,
                user,
                posted.value("credential"),
                name,
                binding=security_keys.interaction_binding(ctx.interaction.id),
                client_address=posted.client_address,
                keep_sid=ctx.interaction.from_sid,
            )
        except InvalidInput as exc:
            ctx.db.rollback()
            return self._page(ctx, status=400, error=str(exc), key_name=name, key_error=True)
        except security_keys.SecurityKeyRefused as exc:
            ctx.db.commit()  # the challenge stays spent
            already = isinstance(exc, security_keys.KeyAlreadyRegistered)
            return self._page(
                ctx,
                status=400,
                error="already_added" if already else "not_added",
                key_name=name,
                key_error=True,
            )
        return self._enabled(ctx, tuple(added.amr), added.codes)


class BackupCodesShownStage(Stage):
    """The backup codes issued inside this sign-in (at enrolment, or a new set) are shown
    once, with Continue."""

    def applies(self, ctx: StageContext) -> bool:
        return bool(ctx.progress.get(CODES_PENDING))

    def show(self, ctx: StageContext, page: str) -> Step:
        return codes_page([], enabled_now=False)

    def act(self, ctx: StageContext, page: str, posted: Posted) -> Step:
        ctx.record(**{CODES_PENDING: False})
        return Done()


class _CodesChoice(Stage):
    """A page about the backup codes left: Continue, or take a new set (shown once, then
    Continue)."""

    TEMPLATE: ClassVar[str] = ""

    def show(self, ctx: StageContext, page: str) -> Step:
        user = ctx.known_user
        left = backup_codes.count_unused(ctx.db, user.id)
        # SPEC P5: where a policy requires the second factor there is no Disable, so the
        # notice doesn't advise it.
        cannot_disable = second_factor_required_by(ctx.db, ctx.realm, user) is not None
        data = {"left": left, "few": left <= FEW_CODES_LEFT, "cannot_disable": cannot_disable}
        return Show(self.TEMPLATE, data)

    def act(self, ctx: StageContext, page: str, posted: Posted) -> Step:
        ctx.record(**{NOTICE_SEEN: True, OFFER_SEEN: True})
        if posted.value("action") != "new_codes":
            return Done()
        user = ctx.known_user
        users.record_locale(user, ctx.locale)  # every factor is proven: mail in it
        codes = factors.regenerate_backup_codes(
            ctx.db, user, actor=actor(ctx), client_address=posted.client_address
        )
        ctx.record(**{CODES_PENDING: True, CODES_ISSUED: True})
        return Done(then=codes_page(codes, enabled_now=False), refresh=True)


class BackupCodeNoticeStage(_CodesChoice):
    """After a backup-code sign-in: how many codes are left, and the advice to set 2FA up
    again (SPEC B6)."""

    TEMPLATE: ClassVar[str] = "login/backup_notice.html"

    def applies(self, ctx: StageContext) -> bool:
        return assurance.BACKUP_CODE in ctx.amr and not ctx.progress.get(NOTICE_SEEN)


class FewCodesLeftStage(_CodesChoice):
    """A sign-in with a second factor that leaves 3 or fewer unused backup codes offers a
    new set; the user may take it or continue (SPEC P6)."""

    TEMPLATE: ClassVar[str] = "login/codes_offer.html"

    def applies(self, ctx: StageContext) -> bool:
        if ctx.user is None or assurance.MFA not in ctx.amr or not ctx.has_second_factor:
            return False
        if ctx.progress.get(OFFER_SEEN) or ctx.progress.get(CODES_ISSUED):
            return False
        return ctx.unused_codes <= FEW_CODES_LEFT
