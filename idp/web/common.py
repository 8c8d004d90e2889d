"""Helpers shared by the blueprints: the realm in the URL, the browser's cookies, the signed-in
SSO session, the client address and the re-authentication rule for sensitive actions."""

from __future__ import annotations

from typing import Any

from flask import Response, abort, g, make_response, redirect, request, session, url_for
from werkzeug.wrappers import Response as BaseResponse

from .. import clock
from ..assurance import MFA, PASSWORD, is_every_factor
from ..db import get_session
from ..interaction.context import realm_policy, user_facts
from ..interaction.flow import start_interaction
from ..interaction.policy import realm_covers
from ..models import Realm, SsoSession, User
from ..oidc.claims import Principal
from ..services import factors, totp
from ..services.context import settings
from ..services.crypto import constant_time_equals, digest, keyed_digest
from ..services.factors import has_second_factor
from ..services.qr import qr_svg
from ..services.realms import find_realm
from ..services.sessions import find_sso_session

SSO_COOKIE = "IDP_SESSION"
MAX_BINDINGS = 8


def load_realm(name: str) -> Realm:
    realm = find_realm(get_session(), name)
    if realm is None:
        abort(404)
    g.idp_realm = realm
    return realm


def client_address() -> str | None:
    return request.remote_addr


def single(name: str, source: Any = None) -> str | None:
    """One value of a form or query field; a repeated field is refused (never "any of")."""
    source = source if source is not None else request.form
    values = source.getlist(name)
    if len(values) > 1:
        abort(400, description=f"The field {name!r} was sent more than once.")
    return values[0] if values else None


# -- interaction bindings (kept in the signed browser cookie) -----------------------------
def remember_binding(uid: str, binding: str) -> None:
    bindings: dict[str, str] = dict(session.get("ix", {}))
    bindings.pop(uid, None)
    bindings[uid] = binding
    while len(bindings) > MAX_BINDINGS:
        bindings.pop(next(iter(bindings)))
    session["ix"] = bindings


def binding_for(uid: str) -> str | None:
    return dict(session.get("ix", {})).get(uid)


def forget_binding(uid: str) -> None:
    bindings = dict(session.get("ix", {}))
    bindings.pop(uid, None)
    session["ix"] = bindings


# -- SSO session -----------------------------------------------------------------------------
def sso_cookie_path(realm: Realm) -> str:
    return f"/realms/{realm.name}/"


def current_sso(realm: Realm) -> SsoSession | None:
    if "idp_sso" not in g:
        g.idp_sso = find_sso_session(get_session(), realm.id, request.cookies.get(SSO_COOKIE))
    sso: SsoSession | None = g.idp_sso
    return sso


def current_user(realm: Realm) -> User | None:
    sso = current_sso(realm)
    return get_session().get(User, sso.user_id) if sso else None


def principal_from(sso: SsoSession | None) -> Principal | None:
    if sso is None:
        return None
    user = get_session().get(User, sso.user_id)
    if user is None:
        return None
    return Principal(user=user, amr=list(sso.amr), auth_time=sso.auth_time, sid=sso.sid)


def set_sso_cookie(response: BaseResponse, realm: Realm, value: str) -> None:
    response.set_cookie(
        SSO_COOKIE,
        value,
        max_age=settings().sso_session_ttl,
        path=sso_cookie_path(realm),
        secure=settings().secure_cookies,
        httponly=True,
        samesite="Lax",
    )


def clear_sso_cookie(response: BaseResponse, realm: Realm) -> None:
    response.delete_cookie(
        SSO_COOKIE,
        path=sso_cookie_path(realm),
        secure=settings().secure_cookies,
        httponly=True,
        samesite="Lax",
    )


# -- own pages behind sign-in ----------------------------------------------------------------
def is_local_path(realm: Realm, path: str | None) -> bool:
    return bool(
        path
        and path.startswith(f"/realms/{realm.name}/")
        and not path.startswith("//")
        and "\\" not in path
        and "\n" not in path
        and "\r" not in path
    )


#: Longest return path kept for after a sign-in (the size of ``Interaction.return_to``).
MAX_RETURN_TO = 2000


def _return_path(realm: Realm, return_to: str | None) -> str | None:
    """Where the sign-in leads back to: ``return_to`` or the current page, when it is a
    local path that fits; an over-long one loses its query, and is dropped altogether when
    even its path is too long (the sign-in then lands on the account page)."""
    if return_to is None:
        return_to = request.full_path if request.query_string else request.path
        if request.method != "GET":
            return_to = request.path
    if len(return_to) > MAX_RETURN_TO:
        return_to = return_to.partition("?")[0]
    if len(return_to) > MAX_RETURN_TO or not is_local_path(realm, return_to):
        return None
    return return_to


def require_sign_in(
    realm: Realm,
    *,
    reason: str = "login",
    user: User | None = None,
    return_to: str | None = None,
    amr: list[str] | None = None,
    from_sid: str | None = None,
) -> Response:
    """Send the browser through the hosted sign-in, then back to ``return_to`` (by default
    the current page; after a refused POST, its URL, which then gets a GET). A step-up
    passes the session it starts from (``from_sid``, with its ``amr``): it dies with that
    session (SPEC V2)."""
    return_to = _return_path(realm, return_to)
    db = get_session()
    ix, binding = start_interaction(
        db,
        realm,
        kind="local",
        return_to=return_to,
        reason=reason,
        user=user,
        login_hint=user.email if user else None,
        amr=amr,
        from_sid=from_sid,
    )
    db.commit()
    remember_binding(ix.uid, binding)
    # make_response: the redirect as the app's Response (flask.redirect is typed as werkzeug's).
    return make_response(redirect(url_for("login.start", realm=realm.name, uid=ix.uid)))


def require_admin(realm: Realm) -> Response | None:
    """The console's guard: a signed-in admin of the realm (others get 403). When the realm
    requires 2FA of admins (SPEC P1) a session without a second factor steps up first: the
    code, or enrolment for an admin who has none (no "Later" for the console). The step-up
    is bound to this session and dies with it (SPEC V2)."""
    sso = current_sso(realm)
    user = get_session().get(User, sso.user_id) if sso else None
    if sso is None or user is None:
        return require_sign_in(realm)
    if not user.is_admin:
        abort(403)
    g.user = user
    if MFA not in (sso.amr or []) and realm_covers(
        realm_policy(realm), user_facts(get_session(), user)
    ):
        return require_sign_in(
            realm, reason="console_2fa", user=user, amr=list(sso.amr or []), from_sid=sso.sid
        )
    return None


#: Key in the signed browser session: the (digest of the) sid of the SSO session that
#: enabled 2FA on the account page, which proved the new key with a code then.
ENROLLED_HERE = "mfa_enrolled_sid"


def note_enrolment(sso: SsoSession) -> None:
    """The session ``sso`` just proved the user's new authenticator with a code (enabling
    2FA on the account page): for ``recently_authenticated`` it counts as having used the
    second factor, for what is left of its re-authentication window. Its ``amr`` is left
    alone (the tokens of the session say what its sign-in used)."""
    session[ENROLLED_HERE] = digest(sso.sid)


def _enrolled_here(sso: SsoSession) -> bool:
    marker = session.get(ENROLLED_HERE)
    return isinstance(marker, str) and constant_time_equals(marker, digest(sso.sid))


def recently_authenticated(sso: SsoSession, user: User) -> bool:
    """GitHub-style "sudo mode": a sign-in with every factor the user has, no older than
    ``IDP_REAUTH_TTL``. A password-only session of a user with 2FA never qualifies, unless
    it is the session that enabled 2FA in this browser (``note_enrolment``): that one
    typed a code of the new key, so it qualifies until its window ends like any other."""
    fresh = clock.timestamp() - sso.auth_time <= settings().reauth_ttl
    if not fresh:
        return False
    if has_second_factor(get_session(), user):
        # A trusted browser skipped the code: that is not every factor (SPEC P8).
        if is_every_factor(sso.amr or []):
            return True
        return PASSWORD in (sso.amr or []) and _enrolled_here(sso)
    return PASSWORD in (sso.amr or [])


def require_recent_sign_in(
    realm: Realm, user: User, *, return_to: str | None = None
) -> Response | None:
    """The guard of every sensitive action (the user's 2FA changes, the console's account
    actions): None when the session qualifies (``recently_authenticated``), otherwise the
    redirect through a re-authentication as ``user``, back to ``return_to`` (default: this
    page). A refused request changes nothing."""
    sso = current_sso(realm)
    if sso is not None and recently_authenticated(sso, user):
        return None
    return require_sign_in(realm, reason="reauth", user=user, return_to=return_to)


#: Key in the signed browser session: which pending key this browser was shown.
PENDING_KEY_SHOWN = "totp_pending"


def _pending_marker(secret: str) -> str:
    return keyed_digest(settings().secret_key, f"totp-pending:{secret}")


def totp_enrolment(realm: Realm, user: User) -> dict[str, Any]:
    """What an enrolment page shows (SPEC E2, E3): the QR code of the pending key, the
    account and the key grouped for reading. A reload shows the same key; a pending key this
    browser was not shown is replaced, never shown (one another browser, or a sign-in that
    has ended since, saw: SPEC V2)."""
    db = get_session()
    secret = factors.pending_secret(db, user)
    marker = session.get(PENDING_KEY_SHOWN)
    if secret is not None and not (
        isinstance(marker, str) and constant_time_equals(marker, _pending_marker(secret))
    ):
        secret = None
    if secret is None:
        factors.start_totp_enrolment(db, user)
        db.commit()
        secret = factors.pending_secret(db, user)
    assert secret is not None
    session[PENDING_KEY_SHOWN] = _pending_marker(secret)
    uri = totp.provisioning_uri(secret, user.email, realm.display_name)
    return {
        "qr": qr_svg(uri),
        "account": user.email,
        "key": totp.group_key(secret),
        "otpauth_uri": uri,
    }
