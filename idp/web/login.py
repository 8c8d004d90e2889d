"""Hosted sign-in pages: run the interaction's stages, then finish it. An authorization
request is resumed by the protocol side at its own endpoint; an own page (account, console)
gets the browser back."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    after_this_request,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)

from ..db import get_session, utcnow
from ..i18n import use_interaction_locale
from ..interaction import flow
from ..interaction.finish import finish_interaction
from ..interaction.stages import FEW_CODES_LEFT, StageContext, next_stage
from ..models import Interaction, User
from ..services import backup_codes, factors, trusted_browsers
from ..services.errors import (
    AccountDisabled,
    InvalidCode,
    InvalidCredentials,
    NotFound,
    TooManyAttempts,
)
from ..services.users import authenticate_password
from .common import (
    binding_for,
    client_address,
    current_sso,
    forget_binding,
    is_local_path,
    load_realm,
    remember_binding,
    set_sso_cookie,
    single,
    too_many_attempts,
    totp_enrolment,
)

bp = Blueprint("login", __name__, url_prefix="/realms/<realm>/login/<uid>")

WRONG_PASSWORD = "Invalid email or password."  # noqa: S105 (a message, not a secret)
WRONG_CODE = (
    "That code was not right. Codes change every 30 seconds: enter the code your app shows "
    "now, and check that your phone's clock is set automatically."
)
WRONG_BACKUP_CODE = "That backup code was not right, or it was used already."


@bp.url_value_preprocessor
def _realm(endpoint: str | None, values: dict[str, Any] | None) -> None:
    if values and "realm" in values:
        load_realm(values["realm"])


def _interaction(uid: str) -> Interaction | Response:
    try:
        ix = flow.load_interaction(get_session(), g.idp_realm, uid, binding_for(uid))
        # The sign-in keeps its language: ui_locales, or the switch used during it.
        if switched := use_interaction_locale(ix.progress or {}, ix.params or {}):
            flow.set_progress(ix, locale=switched)
            get_session().commit()
        return ix
    except flow.InteractionFinished:
        # Every stage ran (the back button after finishing): resume what asked for it.
        return redirect(url_for("protocol.resume", realm=g.idp_realm.name, uid=uid))
    except flow.InteractionExpired:
        return _stale("expired")
    except flow.InteractionNotFound:
        return _stale("unknown")


def _stale(kind: str) -> Response:
    return make_response(render_template("login/stale.html", realm=g.idp_realm, kind=kind), 400)


def _user(ix: Interaction) -> User | None:
    return get_session().get(User, ix.user_id) if ix.user_id else None


def _too_many(template: str, exc: TooManyAttempts, **context: Any) -> Response:
    return too_many_attempts(
        exc, lambda error: make_response(render_template(template, error=error, **context))
    )


def _trust_token() -> str | None:
    return request.cookies.get(trusted_browsers.COOKIE)


def _stage_context(ix: Interaction, user: User | None) -> StageContext:
    db = get_session()
    trusted = (
        user is not None
        and trusted_browsers.find_trust(db, g.idp_realm, user, _trust_token()) is not None
    )
    return StageContext(db=db, realm=g.idp_realm, interaction=ix, user=user, trusted=trusted)


def _continue(ix: Interaction, user: User | None) -> Response:
    """Send the browser to the first stage that still applies, or finish."""
    stage = next_stage(_stage_context(ix, user))
    if stage is not None:
        return redirect(url_for(stage.endpoint, realm=g.idp_realm.name, uid=ix.uid))
    return _finish(ix, user)


def _finish(ix: Interaction, user: User | None) -> Response:
    realm = g.idp_realm
    db = get_session()
    if user is None or user.disabled:
        return _stale("unknown")
    previous = current_sso(realm)
    if ix.from_sid and (previous is None or previous.sid != ix.from_sid):
        # A step-up counts the factors of the session it started from: that session must
        # still be this browser's (not signed out, not replaced) when it finishes.
        return _stale("unknown")
    done = finish_interaction(
        db,
        realm,
        ix,
        user,
        previous=previous,
        client_address=client_address(),
        user_agent=request.headers.get("User-Agent", ""),
    )
    db.commit()
    if ix.kind == "authorize":
        # The protocol side resumes the authorization at its own endpoint.
        resp = redirect(url_for("protocol.resume", realm=realm.name, uid=ix.uid))
    else:
        forget_binding(ix.uid)
        target = ix.return_to if is_local_path(realm, ix.return_to) else None
        resp = redirect(target or url_for("account.home", realm=realm.name))
    set_sso_cookie(resp, realm, done.cookie_value)
    return resp


def _stage_page(uid: str, endpoint: str) -> tuple[Interaction, User] | Response:
    """The interaction and user for a stage's page, or where to go instead when this stage
    does not apply (a stale link, a stage already done)."""
    ix = _interaction(uid)
    if isinstance(ix, Response):
        return ix
    user = _user(ix)
    stage = next_stage(_stage_context(ix, user))
    if user is None or stage is None or stage.endpoint != endpoint:
        return _continue(ix, user)
    return ix, user


def _advance(ix: Interaction, user: User, amr: list[str]) -> None:
    binding = flow.advance(get_session(), ix, user=user, amr=amr)
    get_session().commit()
    remember_binding(ix.uid, binding)


@bp.get("")
def start(realm: str, uid: str) -> Response:
    ix = _interaction(uid)
    if isinstance(ix, Response):
        return ix
    return _continue(ix, _user(ix))


@bp.route("/password", methods=["GET", "POST"])
def password(realm: str, uid: str) -> Response:
    ix = _interaction(uid)
    if isinstance(ix, Response):
        return ix
    if "pwd" in (ix.amr or []):
        return _continue(ix, _user(ix))
    preset = _user(ix)
    context = {
        "realm": g.idp_realm,
        "ix": ix,
        "preset": preset,
        "email": preset.email if preset else (ix.login_hint or ""),
    }
    if request.method == "GET":
        return make_response(render_template("login/password.html", **context))
    email = single("email") or ""
    secret = single("password") or ""
    if preset is not None:
        email = preset.email
    context["email"] = email
    db = get_session()
    try:
        user = authenticate_password(
            db, g.idp_realm, email, secret, client_address=client_address()
        )
        if preset is not None and user.id != preset.id:
            raise InvalidCredentials()
    except TooManyAttempts as exc:
        db.commit()
        return _too_many("login/password.html", exc, **context)
    except (InvalidCredentials, AccountDisabled) as exc:
        db.commit()
        message = (
            WRONG_PASSWORD
            if isinstance(exc, InvalidCredentials)
            else "This account is disabled. Contact your administrator."
        )
        return make_response(render_template("login/password.html", error=message, **context), 401)
    _advance(ix, user, ["pwd"])
    return _continue(ix, user)


@bp.get("/trusted")
def trusted(realm: str, uid: str) -> Response:
    """A trusted browser stands in for the code (SPEC P8): no page."""
    found = _stage_page(uid, "login.trusted")
    if isinstance(found, Response):
        return found
    ix, user = found
    db = get_session()
    trust = trusted_browsers.find_trust(db, g.idp_realm, user, _trust_token())
    if trust is None:
        return _continue(ix, user)
    trusted_browsers.use_trust(db, trust)
    _advance(ix, user, ["mfa", "trusted_browser"])
    return _continue(ix, user)


def _second_factor(uid: str, kind: str, template: str, amr: list[str], wrong: str) -> Response:
    found = _stage_page(uid, "login.totp")
    if isinstance(found, Response):
        return found
    ix, user = found
    context = {"realm": g.idp_realm, "ix": ix, "can_trust": g.idp_realm.trust_browser_days > 0}
    if request.method == "GET":
        return make_response(render_template(template, **context))
    db = get_session()
    try:
        factors.verify_second_factor(
            db, g.idp_realm, user, single("code"), kind=kind, client_address=client_address()
        )
    except TooManyAttempts as exc:
        db.commit()
        return _too_many(template, exc, **context)
    except InvalidCode:
        db.commit()
        return make_response(render_template(template, error=wrong, **context), 401)
    if kind == "totp" and single("trust") == "yes":
        _trust_this_browser(user)
    _advance(ix, user, amr)
    return _continue(ix, user)


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
    return _second_factor(uid, "totp", "login/totp.html", ["otp", "mfa"], WRONG_CODE)


@bp.route("/backup-code", methods=["GET", "POST"])
def backup_code(realm: str, uid: str) -> Response:
    return _second_factor(
        uid, "backup_code", "login/backup_code.html", ["mfa", "backup_code"], WRONG_BACKUP_CODE
    )


# -- enrolment inside the sign-in (SPEC P1, P2, P3, P5) ------------------------------------------
def _enrol_context(ix: Interaction, user: User) -> dict[str, Any]:
    requirement = _stage_context(ix, user).requirement
    return {
        **totp_enrolment(g.idp_realm, user),
        "realm": g.idp_realm,
        "ix": ix,
        "optional": requirement.enrol == "optional",
        "days_left": requirement.grace_days_left,
        "because": requirement.because,
    }


@bp.route("/enrol", methods=["GET", "POST"])
def enrol(realm: str, uid: str) -> Response:
    found = _stage_page(uid, "login.enrol")
    if isinstance(found, Response):
        return found
    ix, user = found
    db = get_session()
    if request.method == "GET":
        return make_response(render_template("login/enrol.html", **_enrol_context(ix, user)))
    if single("action") == "later":
        context = _enrol_context(ix, user)
        if not context["optional"]:
            return make_response(render_template("login/enrol.html", **context), 400)
        flow.set_progress(ix, postponed=True)
        _advance(ix, user, [])
        return _continue(ix, user)
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
        context = _enrol_context(ix, user)
        return make_response(render_template("login/enrol.html", error=WRONG_CODE, **context), 400)
    flow.set_progress(ix, codes_pending=True, codes_issued=True)
    _advance(ix, user, ["otp", "mfa"])
    return _codes_page(ix, codes, enabled_now=True)


# -- backup codes inside the sign-in (SPEC B6, P6) -------------------------------------------------
def _codes_page(ix: Interaction, codes: list[str], *, enabled_now: bool) -> Response:
    return make_response(
        render_template(
            "login/codes.html",
            realm=g.idp_realm,
            ix=ix,
            codes=codes,
            formatted=[backup_codes.format_code(c) for c in codes],
            enabled_now=enabled_now,
        )
    )


@bp.route("/codes", methods=["GET", "POST"])
def codes(realm: str, uid: str) -> Response:
    """The codes issued in this sign-in were shown once; Continue goes on."""
    found = _stage_page(uid, "login.codes")
    if isinstance(found, Response):
        return found
    ix, user = found
    if request.method == "GET":
        return _codes_page(ix, [], enabled_now=False)
    flow.set_progress(ix, codes_pending=False)
    _advance(ix, user, [])
    return _continue(ix, user)


@bp.post("/codes/download")
def codes_download(realm: str, uid: str) -> Response:
    """The text file of SPEC B2 for the set just shown in this sign-in (the page posts the
    codes back; only unused codes of the user's current set are written)."""
    ix = _interaction(uid)
    if isinstance(ix, Response):
        return ix
    user = _user(ix)
    if user is None or "mfa" not in (ix.amr or []):
        return _continue(ix, user)
    db = get_session()
    posted = request.form.getlist("code")[: backup_codes.COUNT]
    valid = [c for c in posted if backup_codes.is_current_code(db, user, c)]
    if not valid:
        return _continue(ix, user)
    text = backup_codes.render_download(
        valid,
        realm_display=g.idp_realm.display_name,
        account=user.email,
        issued=utcnow().strftime("%Y-%m-%d"),
    )
    resp = make_response(text)
    resp.headers["Content-Type"] = "text/plain; charset=utf-8"
    resp.headers["Content-Disposition"] = (
        f'attachment; filename="backup-codes-{g.idp_realm.name}.txt"'
    )
    return resp


def _codes_choice(uid: str, endpoint: str, template: str) -> Response:
    """The notice after a backup-code sign-in and the few-codes-left offer: Continue, or
    take a new set (shown once, then Continue)."""
    found = _stage_page(uid, endpoint)
    if isinstance(found, Response):
        return found
    ix, user = found
    db = get_session()
    left = backup_codes.count_unused(db, user.id)
    if request.method == "GET":
        return make_response(
            render_template(
                template, realm=g.idp_realm, ix=ix, left=left, few=left <= FEW_CODES_LEFT
            )
        )
    flow.set_progress(ix, notice_seen=True, offer_seen=True)
    if single("action") == "new_codes":
        codes = factors.regenerate_backup_codes(
            db, user, actor=f"user:{user.email}", client_address=client_address()
        )
        flow.set_progress(ix, codes_pending=True, codes_issued=True)
        _advance(ix, user, [])
        return _codes_page(ix, codes, enabled_now=False)
    _advance(ix, user, [])
    return _continue(ix, user)


@bp.route("/notice", methods=["GET", "POST"])
def notice(realm: str, uid: str) -> Response:
    return _codes_choice(uid, "login.notice", "login/backup_notice.html")


@bp.route("/offer", methods=["GET", "POST"])
def offer(realm: str, uid: str) -> Response:
    return _codes_choice(uid, "login.offer", "login/codes_offer.html")
