"""How a hosted sign-in page runs its stage: it hands the request down as plain data
(``Posted``), makes one call (``interaction.walk``), and draws, redirects or sets cookies as
the ``Result`` says. Which stage is due, what it proves and what progress it records are
decided below this layer; what a refusal says in words is decided here."""

from __future__ import annotations

from typing import cast

from flask import Response as FlaskResponse
from flask import abort, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import refresh
from werkzeug.wrappers import Response

from ..db import get_session
from ..i18n import select_locale, switched_locale, use_locale
from ..interaction import walk
from ..interaction.steps import Posted, RepeatedField, Result, Show, TrustGiven
from ..models import Interaction, Realm, User
from ..services import trusted_browsers
from ..services.context import settings
from ..services.errors import TooManyAttempts
from .account_keys import ALREADY_ADDED, NOT_ADDED
from .common import (
    SSO_COOKIE,
    binding_for,
    client_address,
    forget_binding,
    is_local_path,
    remember_binding,
    set_sso_cookie,
    totp_enrolment,
)
from .login_pages import (
    ACCOUNT_DISABLED,
    CODES_PAUSED,
    KEY_REFUSED,
    PASSKEY_OFF,
    PASSKEY_REFUSED,
    WRONG_BACKUP_CODE,
    WRONG_CODE,
    WRONG_PASSWORD,
    render_page,
    stale_page,
    throttled_page,
)

#: What a stage's refusal says (a stage names it; a service's own message is translated).
MESSAGES = {
    "wrong_password": WRONG_PASSWORD,
    "account_disabled": ACCOUNT_DISABLED,
    "wrong_code": WRONG_CODE,
    "wrong_backup_code": WRONG_BACKUP_CODE,
    "codes_paused": CODES_PAUSED,
    "key_refused": KEY_REFUSED,
    "passkey_refused": PASSKEY_REFUSED,
    "passkey_off": PASSKEY_OFF,
    "already_added": ALREADY_ADDED,
    "not_added": NOT_ADDED,
}


def posted(uid: str) -> Posted:
    """The request as the stages see it."""
    return Posted(
        method=request.method,
        form={name: tuple(request.form.getlist(name)) for name in request.form},
        binding=binding_for(uid),
        client_address=client_address(),
        user_agent=request.headers.get("User-Agent", ""),
        trust_token=request.cookies.get(trusted_browsers.COOKIE),
        sso_token=request.cookies.get(SSO_COOKIE),
        switched_locale=switched_locale(),
        fallback_locale=select_locale(),
    )


def run_stage(uid: str, page: str | None) -> Response:
    """A stage's page (``page`` its endpoint; None: whatever stage is due)."""
    try:
        result = walk.run_page(get_session(), g.idp_realm, uid, page, posted(uid))
    except RepeatedField as exc:
        abort(400, description=str(exc))
    return respond(result, uid)


def load(uid: str) -> Interaction | Response:
    """This browser's interaction (its language applied), or the page to show instead: for
    the pages that are no stage's (Start over, Cancel, the codes' download)."""
    result = walk.load(get_session(), g.idp_realm, uid, posted(uid))
    if result.interaction is None:
        return respond(result, uid)
    if result.language:
        use_locale(result.language)
    return result.interaction


def user_of(ix: Interaction) -> User | None:
    return get_session().get(User, ix.user_id) if ix.user_id else None


def go_on(ix: Interaction, user: User | None) -> Response:
    """Send the browser to the first stage that still applies, or finish."""
    return respond(walk.go_on(get_session(), g.idp_realm, ix, user, posted(ix.uid)), ix.uid)


def respond(result: Result, uid: str) -> Response:
    realm = g.idp_realm
    if result.language:
        use_locale(result.language)
        # The language is known only once the interaction is: drop any earlier pick.
        refresh()
    if result.resume:
        return redirect(url_for("protocol.resume", realm=realm.name, uid=uid))
    ix = result.interaction
    if ix is not None and result.binding:
        remember_binding(ix.uid, result.binding)
    resp: Response
    if ix is None or result.stale:
        resp = stale_page(uid, result.stale or "unknown")
    elif result.show is not None:
        resp = draw(result.show, ix, result.user)
    elif result.goto is not None:
        resp = redirect(url_for(result.goto, realm=realm.name, uid=ix.uid))
    else:
        assert result.finished is not None
        resp = _finished(realm, ix)
        # flask's redirect makes the app's response class, typed as werkzeug's base.
        set_sso_cookie(cast(FlaskResponse, resp), realm, result.finished.cookie_value)
    if result.trust is not None:
        _set_trust_cookie(resp, realm, result.trust)
    return resp


def draw(show: Show, ix: Interaction, user: User | None) -> Response:
    """A stage's page, in words."""
    data = dict(show.data)
    if not show.signing_in_as:
        user = None
    if show.totp_enrolment and user is not None:
        data.update(totp_enrolment(g.idp_realm, user))
    error = str(MESSAGES.get(show.error) or _(show.error)) if show.error else None
    if show.wait is not None:
        return throttled_page(
            show.template,
            ix,
            TooManyAttempts(show.wait),
            form_id=show.form_id,
            second_factor=show.second_factor,
            reason=error,
            status=show.status,
            user=user,
            **data,
        )
    if error is not None:
        data["error"] = error
    return render_page(show.template, ix, user=user, status=show.status, **data)


def _finished(realm: Realm, ix: Interaction) -> Response:
    if ix.kind == "authorize":
        # The protocol side resumes the authorization at its own endpoint.
        return redirect(url_for("protocol.resume", realm=realm.name, uid=ix.uid))
    forget_binding(ix.uid)
    target = ix.return_to if is_local_path(realm, ix.return_to) else None
    return redirect(target or url_for("account.home", realm=realm.name))


def _set_trust_cookie(resp: Response, realm: Realm, trust: TrustGiven) -> None:
    resp.set_cookie(
        trusted_browsers.COOKIE,
        trust.token,
        max_age=trust.max_age,
        path=f"/realms/{realm.name}/",
        secure=settings().secure_cookies,
        httponly=True,
        samesite="Lax",
    )
