"""The two-factor pages of the account (SPEC 1, 3, 4, P5, P8), on the ``account`` blueprint:
status, enable or replace the key, disable, new backup codes (POST/redirect/GET, see
``new_codes``) and their file, trusted browsers."""

from __future__ import annotations

from typing import Any

from flask import flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from ..db import get_session
from ..interaction.context import second_factor_required_by
from ..models import TrustedBrowser, User
from ..services import backup_codes, factors, security_keys, trusted_browsers
from ..services.crypto import digest
from ..services.errors import (
    InvalidCode,
    NotFound,
)
from .account_bp import bp, render
from .code_file import backup_codes_download
from .common import (
    client_address,
    current_sso,
    note_enrolment,
    require_recent_sign_in,
    single,
    totp_enrolment,
)
from .new_codes import after_setup, keep_new_codes, take_new_codes

#: Why Disable is not offered (SPEC P5), by the policy that requires the second factor.
REQUIRED_BECAUSE = {
    "realm": _l(
        "Your organization requires two-factor authentication for your account, so "
        "you can set up a new authenticator app but not disable it."
    ),
    "client": _l(
        "An app you sign in to here requires two-factor authentication, so you can "
        "set up a new authenticator app but not disable it."
    ),
}


def _this_browser_digest() -> str | None:
    token = request.cookies.get(trusted_browsers.COOKIE)
    return digest(token) if token and len(token) <= 200 else None


def _trust_label(label: str) -> str:
    """A trusted browser's stored label ("Firefox on Linux") in the page's language."""
    browser, sep, platform = label.partition(" on ")
    if sep and browser and platform:
        return _("%(browser)s on %(platform)s", browser=browser, platform=platform)
    return label


@bp.get("/two-factor")
def two_factor(realm: str) -> Response:
    db = get_session()
    status = factors.two_factor_status(db, g.user)
    required_by = second_factor_required_by(db, g.idp_realm, g.user)
    code_set = backup_codes.current_set(db, g.user) if status.enabled else []
    trusts = trusted_browsers.list_trusts(db, g.idp_realm, g.user)
    return render(
        "account/two_factor.html",
        status=status,
        low=backup_codes.LOW_WATERMARK,
        used_codes=[c for c in code_set if c.used_at is not None],
        unused_numbers=[c.number for c in code_set if c.used_at is None],
        required_because=REQUIRED_BECAUSE.get(required_by or ""),
        trusts=trusts,
        trust_labels={t.id: _trust_label(t.label) for t in trusts},
        this_browser=_this_browser_digest(),
        keys=security_keys.list_keys(db, g.user),
        keys_available=security_keys.available(),
        # "a new authenticator app" only to a user who has one (not a security-key-only one)
        has_totp=factors.active_totp(db, g.user) is not None,
    )


# A row id the column can hold (32-bit on PostgreSQL; SQLite overflows past 64 bits): a
# larger number is no trusted browser, 404 without a query.
@bp.post("/two-factor/trusted-browsers/<int(max=2147483647):trust_id>/revoke")
def revoke_trusted_browser(realm: str, trust_id: int) -> Response:
    """SPEC P8: stop trusting one browser; the next sign-in there asks for the code."""
    db = get_session()
    this_browser = _this_browser_digest()
    row = db.get(TrustedBrowser, trust_id)
    was_this_browser = row is not None and row.token_digest == this_browser
    if trusted_browsers.revoke_trust(db, g.user, trust_id, client_address=client_address()):
        db.commit()
        flash(_("That browser is no longer trusted. Signing in there asks for a code again."))
    resp = redirect(url_for("account.two_factor", realm=realm))
    if was_this_browser:
        resp.delete_cookie(trusted_browsers.COOKIE, path=f"/realms/{g.idp_realm.name}/")
    return resp


def _enrolment_context(user: User) -> dict[str, Any]:
    return {
        **totp_enrolment(g.idp_realm, user),
        "replacing": factors.active_totp(get_session(), user) is not None,
    }


@bp.route("/two-factor/enable", methods=["GET", "POST"])
def enable(realm: str) -> Response:
    denied = require_recent_sign_in(g.idp_realm, g.user)
    if denied:
        return denied
    db = get_session()
    if request.method == "GET":
        return render("account/enable.html", **_enrolment_context(g.user))
    sso = current_sso(g.idp_realm)
    try:
        codes = factors.enable_totp(
            db,
            g.user,
            single("code"),
            actor=f"user:{g.user.email}",
            client_address=client_address(),
            keep_sid=sso.sid if sso else None,
        )
    except (InvalidCode, NotFound):
        db.rollback()
        return render(
            "account/enable.html",
            400,
            **_enrolment_context(g.user),
            error=_(
                "That code was not right. Enter the 6-digit code your app "
                "shows now, and check that your phone's clock is set automatically."
            ),
        )
    db.commit()
    if sso is not None:
        note_enrolment(sso)  # the code just typed counts as this session's second factor
    keep_new_codes(g.user, codes, enabled_now=True)
    return redirect(url_for("account.show_new_backup_codes", realm=realm))


@bp.route("/two-factor/backup-codes", methods=["GET", "POST"])
def new_backup_codes(realm: str) -> Response:
    """Issue a new set (invalidates every earlier code, SPEC B3), then show it once."""
    denied = require_recent_sign_in(g.idp_realm, g.user)
    if denied:
        return denied
    if request.method == "GET":
        return render("account/backup_codes_confirm.html")
    db = get_session()
    try:
        codes = factors.regenerate_backup_codes(
            db, g.user, actor=f"user:{g.user.email}", client_address=client_address()
        )
    except NotFound:
        return redirect(url_for("account.two_factor", realm=realm))
    db.commit()
    keep_new_codes(g.user, codes, enabled_now=False)
    return redirect(url_for("account.show_new_backup_codes", realm=realm))


@bp.get("/two-factor/backup-codes/new")
def show_new_backup_codes(realm: str) -> Response:
    """The set just issued, exactly once; a reload says it was shown already."""
    taken = take_new_codes(g.user)
    if taken is None:
        return render("account/backup_codes.html", codes=[], formatted=[], enabled_now=False)
    codes, enabled_now = taken
    back = after_setup(g.user) if enabled_now else None
    return render(
        "account/backup_codes.html",
        codes=codes,
        enabled_now=enabled_now,
        formatted=[backup_codes.format_code(c) for c in codes],
        done_url=back,
    )


@bp.post("/two-factor/backup-codes/download")
def download_backup_codes(realm: str) -> Response:
    """The file of the set just shown. The server does not keep plain codes: the page
    posts them back, and only unused codes of the user's current set are written."""
    resp = backup_codes_download(
        g.idp_realm, g.user, request.form.getlist("code")[: backup_codes.COUNT]
    )
    if resp is None:
        flash(_("Those backup codes are no longer valid. Issue a new set."))
        return redirect(url_for("account.two_factor", realm=realm))
    return resp


@bp.route("/two-factor/disable", methods=["GET", "POST"])
def disable(realm: str) -> Response:
    db = get_session()
    required_by = second_factor_required_by(db, g.idp_realm, g.user)
    if required_by is not None:
        # SPEC P5: refused before anything else (no re-authentication for nothing).
        flash(str(REQUIRED_BECAUSE[required_by]))
        return redirect(url_for("account.two_factor", realm=realm))
    denied = require_recent_sign_in(g.idp_realm, g.user)
    if denied:
        return denied
    if not factors.has_second_factor(db, g.user):
        return redirect(url_for("account.two_factor", realm=realm))
    if request.method == "GET":
        return render("account/disable_confirm.html")
    factors.disable_two_factor(db, g.user, client_address=client_address())
    db.commit()
    flash(_("Two-factor authentication is disabled."))
    return redirect(url_for("account.two_factor", realm=realm))
