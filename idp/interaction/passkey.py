"""Signing in with a passkey alone (issue 10): a page that runs in place of the password
stage, only before any factor is proven and only where the realm allows it (a posted
assertion is refused unread otherwise). A discoverable credential with user verification
identifies the user and proves ``assurance.BY_PASSKEY``; failed assertions for a known key
count in its user's second-factor throttle (SPEC L6)."""

from __future__ import annotations

from typing import ClassVar

from .. import assurance
from ..services import key_assertions, security_keys
from ..services.errors import InvalidCode, TooManyAttempts
from .stage import Stage, StageContext
from .steps import Done, Posted, Show, Step


class PasskeyStage(Stage):
    """Not walked (``applies`` is False): its page stands in for the password stage."""

    proves: ClassVar[tuple[str, ...]] = assurance.BY_PASSKEY
    TEMPLATE: ClassVar[str] = "login/passkey.html"

    def applies(self, ctx: StageContext) -> bool:
        return False

    def runs_now(self, ctx: StageContext, due: Stage | None) -> bool:
        return not ctx.amr

    def _options(self, ctx: StageContext) -> str:
        options = key_assertions.passkey_options(
            ctx.db, ctx.realm, binding=security_keys.interaction_binding(ctx.interaction.id)
        )
        ctx.db.commit()
        return options

    def _page(self, ctx: StageContext, *, status: int = 200, error: str | None = None) -> Show:
        available = security_keys.available()
        options = self._options(ctx) if available else None
        data = {"options": options, "available": available}
        return Show(self.TEMPLATE, data, status=status, error=error)

    def show(self, ctx: StageContext, page: str) -> Step:
        if not ctx.realm.passkey_sign_in:
            return Done(advance=False)  # a stale link: the password page
        return self._page(ctx)

    def act(self, ctx: StageContext, page: str, posted: Posted) -> Step:
        if not ctx.realm.passkey_sign_in:
            preset = ctx.user
            data = {
                "preset": preset,
                "email": preset.email if preset else (ctx.interaction.login_hint or ""),
                "passkeys": False,
            }
            return Show(
                "login/password.html", data, status=403, error="passkey_off", signing_in_as=False
            )
        try:
            user = key_assertions.verify_passkey(
                ctx.db,
                ctx.realm,
                posted.value("credential"),
                binding=security_keys.interaction_binding(ctx.interaction.id),
                client_address=posted.client_address,
                expected_user=ctx.user,
            )
        except TooManyAttempts as exc:
            ctx.db.commit()
            data = {"options": self._options(ctx), "available": True}
            return Show(self.TEMPLATE, data, status=429, wait=exc.retry_after, form_id="key-form")
        except InvalidCode:
            ctx.db.commit()
            return self._page(ctx, status=401, error="passkey_refused")
        return Done(amr=self.proves, user=user)
