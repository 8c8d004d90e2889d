"""The stages that prove a second factor (SPEC L1-L6, P8, issue 10): a trusted browser in
place of the code, a security key, and the authenticator app's code or a backup code."""

from __future__ import annotations

from typing import ClassVar

from .. import assurance
from ..db import utcnow
from ..services import factors, key_assertions, security_keys, throttle, trusted_browsers
from ..services.errors import InvalidCode, TooManyAttempts
from . import policy
from .stage import Stage, StageContext
from .steps import Done, Posted, Show, Step, TrustGiven


class TrustedBrowserStage(Stage):
    """A trusted browser stands in for the code (SPEC P8): amr gains ``mfa`` and
    ``trusted_browser``, no page is shown. The trust is looked up last, and once."""

    proves: ClassVar[tuple[str, ...]] = assurance.BY_TRUSTED_BROWSER

    def applies(self, ctx: StageContext) -> bool:
        return (
            assurance.MFA not in ctx.amr
            and ctx.has_second_factor
            and policy.trusted_browser_may_skip(ctx.policy)
            and ctx.is_trusted
        )

    def show(self, ctx: StageContext, page: str) -> Step:
        trust = ctx.trust
        if trust is None:
            return Done(advance=False)
        trusted_browsers.use_trust(ctx.db, trust)
        return Done(amr=self.proves)


# -- the second factor ------------------------------------------------------------------------
def _throttled(page: Show, wait: int, *, form_id: str, status: int, error: str | None) -> Show:
    return Show(
        page.template,
        page.data,
        status=status,
        error=error,
        wait=wait,
        form_id=form_id,
        second_factor=True,
    )


class SecurityKeyStage(Stage):
    """A user with a security key is offered it first (issue 10); its page links to the
    authenticator app and the backup code, whose pages stand in for this stage too. It
    proves ``assurance.by_security_key``: ``user`` only when the key verified the user."""

    TEMPLATE: ClassVar[str] = "login/security_key.html"

    def applies(self, ctx: StageContext) -> bool:
        return (
            ctx.user is not None
            and assurance.MFA not in ctx.amr
            and ctx.has_second_factor  # cached, shared with the other stages
            and ctx.has_security_key
        )

    def _page(self, ctx: StageContext, **extra: object) -> Show:
        """The page, with request options whose new challenge replaces any earlier one of
        this sign-in (W3C WebAuthn SS 7.2)."""
        user = ctx.known_user
        available = security_keys.available()
        options = None
        if available:
            options = key_assertions.authentication_options(
                ctx.db,
                ctx.realm,
                user,
                binding=security_keys.interaction_binding(ctx.interaction.id),
            )
            ctx.db.commit()
        data = {
            "options": options,
            "available": available,
            "has_totp": factors.active_totp(ctx.db, user) is not None,
        }
        return Show(self.TEMPLATE, data, **extra)  # type: ignore[arg-type]

    def show(self, ctx: StageContext, page: str) -> Step:
        return self._page(ctx)

    def act(self, ctx: StageContext, page: str, posted: Posted) -> Step:
        db = ctx.db
        try:
            amr = factors.verify_second_factor(
                db,
                ctx.realm,
                ctx.known_user,
                posted.value("credential"),
                kind="webauthn",
                client_address=posted.client_address,
                binding=security_keys.interaction_binding(ctx.interaction.id),
            )
        except TooManyAttempts as exc:
            db.commit()
            return _throttled(
                self._page(ctx), exc.retry_after, form_id="key-form", status=429, error=None
            )
        except InvalidCode:
            db.commit()
            return self._page(ctx, status=401, error="key_refused")
        return Done(amr=tuple(amr))


class SecondFactorStage(Stage):
    """TOTP security code, or a backup code instead (SPEC L1, L3). A code page shows a wait
    in force at once, with its ways out, not only after a refused code (SPEC V9)."""

    #: page -> (the kind of code, its template, what it proves, the refusal)
    CODES: ClassVar[dict[str, tuple[str, str, tuple[str, ...], str]]] = {
        "login.totp": ("totp", "login/totp.html", assurance.BY_TOTP, "wrong_code"),
        "login.backup_code": (
            "backup_code",
            "login/backup_code.html",
            assurance.BY_BACKUP_CODE,
            "wrong_backup_code",
        ),
    }

    def applies(self, ctx: StageContext) -> bool:
        return ctx.user is not None and assurance.MFA not in ctx.amr and ctx.has_second_factor

    def _page(self, ctx: StageContext, page: str, **extra: object) -> Show:
        data = {
            "can_trust": ctx.realm.trust_browser_days > 0,
            "has_key": ctx.has_security_key,
            "has_totp": factors.active_totp(ctx.db, ctx.known_user) is not None,
        }
        return Show(self.CODES[page][1], data, **extra)  # type: ignore[arg-type]

    def show(self, ctx: StageContext, page: str) -> Step:
        wait = throttle.second_factor_wait(ctx.db, ctx.known_user)
        if wait:
            return _throttled(
                self._page(ctx, page), wait, form_id="code-form", status=200, error="codes_paused"
            )
        return self._page(ctx, page)

    def act(self, ctx: StageContext, page: str, posted: Posted) -> Step:
        kind, _template, proves, wrong = self.CODES[page]
        db, user = ctx.db, ctx.known_user
        try:
            factors.verify_second_factor(
                db,
                ctx.realm,
                user,
                posted.value("code"),
                kind=kind,
                client_address=posted.client_address,
                locale=ctx.locale,
            )
        except TooManyAttempts as exc:
            db.commit()
            return _throttled(
                self._page(ctx, page),
                exc.retry_after,
                form_id="code-form",
                status=429,
                error="codes_paused",
            )
        except InvalidCode:
            db.commit()
            return self._page(ctx, page, status=401, error=wrong)
        trust = None
        if kind == "totp" and posted.value("trust") == "yes":
            trust = self._trust_this_browser(ctx, posted)
        return Done(amr=proves, trust=trust)

    @staticmethod
    def _trust_this_browser(ctx: StageContext, posted: Posted) -> TrustGiven | None:
        given = trusted_browsers.trust_browser(
            ctx.db,
            ctx.realm,
            ctx.known_user,
            user_agent=posted.user_agent or None,
            client_address=posted.client_address,
        )
        if given is None:
            return None
        row, token = given
        return TrustGiven(token, int((row.expires_at - utcnow()).total_seconds()))
