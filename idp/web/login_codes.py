"""The code pages of the hosted sign-in, on the ``login`` blueprint: a trusted browser
(SPEC P8), the security code and the backup code (L1-L6), enrolment inside the sign-in (P1,
P2, P3, P5), and the backup-code pages after it (B6, P6). Each shows the account being
signed in, with "Not you? Start over"."""

from __future__ import annotations

from typing import Any

from flask import Response, after_this_request, g, request

from .. import assurance
from ..db import get_session, utcnow
from ..i18n import current_locale
from ..interaction import flow
from ..interaction.context import second_factor_required_by
from ..interaction.stages import FEW_CODES_LEFT
from ..models import Interaction, User
from ..services import backup_codes, factors, security_keys, throttle, trusted_browsers, users
from ..services.errors import InvalidCode, NotFound, TooManyAttempts
from .code_file import backup_codes_download
from .common import client_address, single, totp_enrolment
from .login import advance, bp, go_on, load, stage_context, stage_page, trust_token, user_of
from .login_pages import (
    CODES_PAUSED,
    WRONG_BACKUP_CODE,
    WRONG_CODE,
    render_page,
    throttled_page,
)


@bp.get("/trusted")
def trusted(realm: str, uid: str) -> Response:
    """A trusted browser stands in for the code (SPEC P8): no page."""
    found = stage_page(uid, "login.trusted")
    if isinstance(found, Response):
        return found
    ix, user = found
    db = get_session()
    trust = trusted_browsers.find_trust(db, g.idp_realm, user, trust_token())
    if trust is None:
        return go_on(ix, user)
    trusted_browsers.use_trust(db, trust)
    advance(ix, user, list(assurance.BY_TRUSTED_BROWSER))
    return go_on(ix, user)


def _second_factor(uid: str, kind: str, template: str, amr: list[str], wrong: Any) -> Response:
    # Also the alternatives to a security key (issue 10).
    found = stage_page(uid, "login.totp", "login.webauthn")
    if isinstance(found, Response):
        return found
    ix, user = found
    context = {
        "can_trust": g.idp_realm.trust_browser_days > 0,
        "has_key": stage_context(ix, user).has_security_key,
        "has_totp": factors.active_totp(get_session(), user) is not None,
    }
    if request.method == "GET":
        # A wait in force shows at once, with its ways out, not only after a refused code.
        wait = throttle.second_factor_wait(get_session(), user)
        if wait:
            return throttled_page(
                template,
                ix,
                TooManyAttempts(wait),
                form_id="code-form",
                second_factor=True,
                reason=CODES_PAUSED,
                status=200,
                user=user,
                **context,
            )
        return render_page(template, ix, user=user, **context)
    db = get_session()
    try:
        factors.verify_second_factor(
            db,
            g.idp_realm,
            user,
            single("code"),
            kind=kind,
            client_address=client_address(),
            locale=current_locale(),
        )
    except TooManyAttempts as exc:
        db.commit()
        return throttled_page(
            template,
            ix,
            exc,
            form_id="code-form",
            second_factor=True,
            reason=CODES_PAUSED,
            user=user,
            **context,
        )
    except InvalidCode:
        db.commit()
        return render_page(template, ix, user=user, status=401, error=wrong, **context)
    if kind == "totp" and single("trust") == "yes":
        _trust_this_browser(user)
    advance(ix, user, amr)
    return go_on(ix, user)


def _trust_this_browser(user: User) -> None:
    realm = g.idp_realm
    given = trusted_browsers.trust_browser(
        get_session(),
        realm,
        user,
        user_agent=request.headers.get("User-Agent"),
        client_address=client_address(),
    )
    if given is None:
        return
    row, token = given
    max_age = int((row.expires_at - utcnow()).total_seconds())

    @after_this_request
    def _set_cookie(response: Response) -> Response:
        from ..services.context import settings

        response.set_cookie(
            trusted_browsers.COOKIE,
            token,
            max_age=max_age,
            path=f"/realms/{realm.name}/",
            secure=settings().secure_cookies,
            httponly=True,
            samesite="Lax",
        )
        return response


@bp.route("/totp", methods=["GET", "POST"], endpoint="totp")
def totp_code(realm: str, uid: str) -> Response:
    return _second_factor(uid, "totp", "login/totp.html", list(assurance.BY_TOTP), WRONG_CODE)


@bp.route("/backup-code", methods=["GET", "POST"])
def backup_code(realm: str, uid: str) -> Response:
    return _second_factor(
        uid,
        "backup_code",
        "login/backup_code.html",
        list(assurance.BY_BACKUP_CODE),
        WRONG_BACKUP_CODE,
    )


# -- enrolment inside the sign-in (SPEC P1, P2, P3, P5) ------------------------------------------
def enrol_page(ix: Interaction, user: User, *, status: int = 200, **extra: Any) -> Response:
    """The enrolment page: the authenticator app, and a security key where browsers allow
    WebAuthn on this address (issue 10; the key's form posts to ``login.enrol_key``)."""
    requirement = stage_context(ix, user).requirement
    key_options = None
    if security_keys.available():
        db = get_session()
        key_options = security_keys.registration_options(
            db, g.idp_realm, user, binding=security_keys.interaction_binding(ix.id)
        )
        db.commit()
    return render_page(
        "login/enrol.html",
        ix,
        user=user,
        status=status,
        **totp_enrolment(g.idp_realm, user),
        optional=requirement.enrol == "optional",
        days_left=requirement.grace_days_left,
        because=requirement.because,
        key_options=key_options,
        **extra,
    )


@bp.route("/enrol", methods=["GET", "POST"])
def enrol(realm: str, uid: str) -> Response:
    found = stage_page(uid, "login.enrol")
    if isinstance(found, Response):
        return found
    ix, user = found
    db = get_session()
    if request.method == "GET":
        return enrol_page(ix, user)
    if single("action") == "later":
        if stage_context(ix, user).requirement.enrol != "optional":
            return enrol_page(ix, user, status=400)
        flow.set_progress(ix, postponed=True)
        advance(ix, user, [])
        return go_on(ix, user)
    # Mail about the new key is in the sign-in's language (rolled back with a wrong code).
    users.record_locale(user, current_locale())
    try:
        # Enabling ends the user's other sessions (they used the password alone); a step-up
        # keeps the session it started from until it finishes and replaces it.
        codes = factors.enable_totp(
            db,
            user,
            single("code"),
            actor=f"user:{user.email}",
            client_address=client_address(),
            keep_sid=ix.from_sid,
        )
    except (InvalidCode, NotFound):
        db.rollback()
        return enrol_page(ix, user, status=400, error=WRONG_CODE)
    flow.keep_after_own_change(ix, user)  # the other sign-ins ended; this one goes on
    flow.set_progress(ix, codes_pending=True, codes_issued=True)
    advance(ix, user, list(assurance.BY_TOTP))
    return codes_page(ix, user, codes, enabled_now=True)


# -- backup codes inside the sign-in (SPEC B6, P6) -------------------------------------------------
def codes_page(ix: Interaction, user: User, codes: list[str], *, enabled_now: bool) -> Response:
    return render_page(
        "login/codes.html",
        ix,
        user=user,
        codes=codes,
        formatted=[backup_codes.format_code(c) for c in codes],
        enabled_now=enabled_now,
    )


@bp.route("/codes", methods=["GET", "POST"])
def codes(realm: str, uid: str) -> Response:
    """The codes issued in this sign-in were shown once; Continue goes on."""
    found = stage_page(uid, "login.codes")
    if isinstance(found, Response):
        return found
    ix, user = found
    if request.method == "GET":
        return codes_page(ix, user, [], enabled_now=False)
    flow.set_progress(ix, codes_pending=False)
    advance(ix, user, [])
    return go_on(ix, user)


@bp.post("/codes/download")
def codes_download(realm: str, uid: str) -> Response:
    """The text file of SPEC B2 for the set just shown in this sign-in (the page posts the
    codes back; only unused codes of the user's current set are written)."""
    ix = load(uid)
    if isinstance(ix, Response):
        return ix
    user = user_of(ix)
    if user is None or assurance.MFA not in (ix.amr or []):
        return go_on(ix, user)
    posted = request.form.getlist("code")[: backup_codes.COUNT]
    resp = backup_codes_download(g.idp_realm, user, posted)
    return resp if resp is not None else go_on(ix, user)


def _codes_choice(uid: str, endpoint: str, template: str) -> Response:
    """The notice after a backup-code sign-in and the few-codes-left offer: Continue, or
    take a new set (shown once, then Continue)."""
    found = stage_page(uid, endpoint)
    if isinstance(found, Response):
        return found
    ix, user = found
    db = get_session()
    left = backup_codes.count_unused(db, user.id)
    if request.method == "GET":
        # SPEC P5: where a policy requires the second factor there is no Disable, so the
        # notice doesn't advise it.
        cannot_disable = second_factor_required_by(db, g.idp_realm, user) is not None
        return render_page(
            template,
            ix,
            user=user,
            left=left,
            few=left <= FEW_CODES_LEFT,
            cannot_disable=cannot_disable,
        )
    flow.set_progress(ix, notice_seen=True, offer_seen=True)
    if single("action") == "new_codes":
        users.record_locale(user, current_locale())  # every factor is proven: mail in it
        codes = factors.regenerate_backup_codes(
            db, user, actor=f"user:{user.email}", client_address=client_address()
        )
        flow.set_progress(ix, codes_pending=True, codes_issued=True)
        advance(ix, user, [])
        return codes_page(ix, user, codes, enabled_now=False)
    advance(ix, user, [])
    return go_on(ix, user)


@bp.route("/notice", methods=["GET", "POST"])
def notice(realm: str, uid: str) -> Response:
    return _codes_choice(uid, "login.notice", "login/backup_notice.html")


@bp.route("/offer", methods=["GET", "POST"])
def offer(realm: str, uid: str) -> Response:
    return _codes_choice(uid, "login.offer", "login/codes_offer.html")
