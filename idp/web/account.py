"""The user's own settings: profile, sign-out, and two-factor authentication (SPEC 1, 3, 4).

Sensitive actions (enable or replace the key, disable, new backup codes) need a recent
sign-in with every factor the user has; otherwise the user re-authenticates first.
Enabling (or replacing) the key signs the user's other sessions out; this one stays.
Where a policy requires 2FA of the user (SPEC P5) they may replace the key but not disable
it. Trusted browsers (SPEC P8) are listed on the 2FA page and revoked one by one; revoking
only takes trust away, so it needs no recent sign-in.

A new set of backup codes is shown by POST/redirect/GET (``new_codes``). The home page
lists the user's active sessions, each with Sign out, and Sign out everywhere.
"""

from __future__ import annotations

from typing import Any

from flask import flash, g, redirect, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from .. import clock
from ..db import get_session
from ..interaction import policy
from ..interaction.context import realm_policy, user_facts
from ..models import User
from ..services import audit, factors, sessions, users, verification
from ..services.errors import (
    AccountDisabled,
    InvalidCredentials,
    InvalidInput,
    TooManyAttempts,
)

# The blueprint's other view modules: importing them puts their routes on ``bp``, so that
# registering ``account.bp`` brings every account page (they import ``account_bp``, not this).
from . import account_keys, account_two_factor  # noqa: F401
from .account_bp import bp, render
from .common import (
    clear_sso_cookie,
    client_address,
    current_sso,
    single,
)
from .login_pages import countdown
from .signed_out import frames_for, signed_out_page


def browser_label(user_agent: str | None) -> str:
    """A session's browser in short form, in the page's language ("Firefox on Windows")."""
    browser, platform = sessions.browser_summary(user_agent)
    if browser and platform:
        return _("%(browser)s on %(platform)s", browser=browser, platform=platform)
    return browser or platform or _("Unknown browser")


def _session_rows(user: User) -> list[dict[str, Any]]:
    this = current_sso(g.idp_realm)
    return [
        {
            "handle": sessions.session_handle(row),
            "browser": browser_label(row.user_agent),
            "address": row.client_address,
            "signed_in": row.created_at,
            "this_browser": this is not None and row.id == this.id,
        }
        for row in sessions.list_active_sessions(get_session(), user)
    ]


def _grace(user: User) -> dict[str, Any] | None:
    """SPEC P2: while the realm's policy lets the user put off setting up 2FA, the days
    left and the moment the sign-in starts to insist (the policy's own reckoning)."""
    rules = realm_policy(g.idp_realm)
    facts = user_facts(get_session(), user)
    if facts.has_second_factor or not policy.realm_covers(rules, facts):
        return None
    days = policy.grace_days_left(rules, facts, clock.now())
    if days <= 0:
        return None
    return {"days": days, "ends": policy.grace_ends(rules, facts)}


@bp.get("/")
def home(realm: str) -> Response:
    return render(
        "account/home.html",
        two_factor_enabled=factors.has_second_factor(get_session(), g.user),
        grace=_grace(g.user),
        sessions=_session_rows(g.user),
    )


def _signed_out_here(ended: sessions.SignedOut | None) -> Response:
    """The signed-out page: this browser's session ended (with others, on Sign out
    everywhere). It loads the front-channel logout URI of every application that signed in
    to a session that ended (``signed_out.signed_out_page``)."""
    frames = frames_for(g.idp_realm, ended.sids) if ended is not None else []
    resp = signed_out_page(g.idp_realm, frames)
    clear_sso_cookie(resp, g.idp_realm)
    return resp


@bp.post("/sessions/<handle>/sign-out")
def sign_out_session(realm: str, handle: str) -> Response:
    """End one of the user's own sessions (named by its opaque handle) and revoke its
    tokens; ending this browser's session signs this browser out."""
    db = get_session()
    row = sessions.find_own_session(db, g.user, handle)
    if row is None:
        flash(_("That session has ended already."))
        return redirect(url_for("account.home", realm=realm))
    this = current_sso(g.idp_realm)
    here = this is not None and this.id == row.id
    ended = sessions.sign_out_session(
        db, g.user, row, this_browser=here, client_address=client_address()
    )
    db.commit()
    if here:
        return _signed_out_here(ended)
    flash(_("That session is signed out."))
    return redirect(url_for("account.home", realm=realm))


@bp.post("/sessions/sign-out-all")
def sign_out_everywhere(realm: str) -> Response:
    """End every session of the user, this one too, and revoke every token."""
    db = get_session()
    ended = sessions.sign_out_everywhere(db, g.user, client_address=client_address())
    db.commit()
    return _signed_out_here(ended)


@bp.post("/sign-out")
def sign_out(realm: str) -> Response:
    """The menu's Sign out: this browser's session ends (``sessions.sign_out_session``)."""
    db = get_session()
    sso = current_sso(g.idp_realm)
    ended = None
    if sso is not None:
        ended = sessions.sign_out_session(
            db, g.user, sso, this_browser=True, client_address=client_address()
        )
        db.commit()
    return _signed_out_here(ended)


@bp.route("/password", methods=["GET", "POST"])
def password(realm: str) -> Response:
    """Change one's own password: the current one, then the new one twice. Other sessions
    end and their tokens are revoked; this one stays."""
    if request.method == "GET":
        return render("account/password.html")
    current = single("current_password") or ""
    new = single("new_password") or ""
    if new != (single("confirm_password") or ""):
        return render("account/password.html", 400, error=_("The new passwords do not match."))
    db = get_session()
    sso = current_sso(g.idp_realm)
    try:
        users.change_password(
            db,
            g.user,
            current,
            new,
            keep_sid=sso.sid if sso else None,
            client_address=client_address(),
        )
    except TooManyAttempts as exc:
        db.commit()
        resp = render(
            "account/password.html",
            429,
            error=_("Too many attempts."),
            wait=countdown(exc.retry_after, "password-form"),
        )
        resp.headers["Retry-After"] = str(exc.retry_after)
        return resp
    except (InvalidCredentials, AccountDisabled):
        db.commit()  # the failure counts
        return render("account/password.html", 401, error=_("The current password is not right."))
    except InvalidInput as exc:
        db.rollback()
        # The password rules' refusal (marked N_ in idp.services.passwords), translated.
        return render("account/password.html", 400, error=_(str(exc)))
    db.commit()
    flash(_("Your password is changed. Other devices are signed out."))
    return redirect(url_for("account.home", realm=realm))


@bp.post("/verify-email")
def send_verification(realm: str) -> Response:
    """Email the user a link that verifies their address (issue 9, "Verify email"); at most
    one a minute, so the button can't flood a mailbox."""
    db = get_session()
    try:
        verification.send_verification(
            db,
            g.idp_realm,
            g.user,
            actor=audit.actor_for(g.user),
            client_address=client_address(),
        )
    except verification.AlreadyVerified:
        flash(_("Your email address is verified already."))
        return redirect(url_for("account.home", realm=realm))
    except TooManyAttempts as exc:
        db.rollback()
        flash(
            _(
                "A link was sent less than a minute ago. Wait %(seconds)d seconds before "
                "asking for another.",
                seconds=exc.retry_after,
            )
        )
        return redirect(url_for("account.home", realm=realm))
    db.commit()
    flash(
        _(
            "We sent a link to %(email)s. Open it within %(hours)d hours to verify the address.",
            email=g.user.email,
            hours=verification.VERIFY_TTL_SECONDS // 3600,
        )
    )
    return redirect(url_for("account.home", realm=realm))
