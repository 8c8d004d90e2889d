"""OpenID Connect endpoints under ``/realms/<realm>/`` (Keycloak's URL layout).

Where each endpoint lives and how it is served (CORS, CSRF, the realm's cache) is its row in
``oidc/endpoint_table.py``; a view here is bound to its row with ``@endpoint("<name>")``.

The authorization endpoint validates the request with Authlib, applies the login policy and
either answers at once (an SSO session satisfies it) or stores the request in an interaction
and sends the browser to the hosted sign-in. The pages never parse OAuth parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from authlib.oauth2 import OAuth2Error
from authlib.oidc.core.errors import InteractionRequiredError, LoginRequiredError
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from joserfc.errors import JoseError

from ..app_extensions import csrf
from ..db import get_session
from ..i18n import from_ui_locales, use_interaction_locale, use_locale
from ..interaction import context as policy_context
from ..interaction import policy
from ..interaction.flow import InteractionError, complete, load_interaction, start_interaction
from ..oidc.claims import Principal
from ..oidc.discovery import discovery_response, jwks_response
from ..oidc.endpoint_table import BY_NAME, ENDPOINTS, Cors, declared
from ..oidc.hints import hinted_subject
from ..oidc.server import AuthorizationServer
from ..services import clients as client_service
from ..services.realms import cached_realm
from .common import (
    binding_for,
    clear_sso_cookie,
    current_sso,
    forget_binding,
    load_realm,
    principal_from,
    remember_binding,
)
from .login_pages import stale_page
from .oauth_errors import error_page
from .response_modes import deliver
from .signed_out import frames_for, signed_out_page

bp = Blueprint("protocol", __name__, url_prefix="/realms/<realm>")

View = TypeVar("View", bound=Callable[..., ResponseReturnValue])
_bound: set[str] = set()


def endpoint(name: str) -> Callable[[View], View]:
    """Route a view at its row of ``oidc/endpoint_table.py``: its path and methods (with
    ``OPTIONS`` for a CORS preflight), and its CSRF exemption. The row says the rest
    (discovery, CORS, the realm's cache, the fast path)."""
    row = BY_NAME[name]

    def bind(view: View) -> View:
        methods = list(row.methods)
        if row.cors is Cors.REGISTERED_ORIGINS:
            methods.append("OPTIONS")  # answered by _preflight
        bp.add_url_rule(row.path, endpoint=name, view_func=view, methods=methods)
        if row.csrf_exempt:
            csrf.exempt(view)
        _bound.add(name)
        return view

    return bind


@bp.record_once
def _every_row_has_a_view(_state: Any) -> None:
    missing = {row.name for row in ENDPOINTS} - _bound
    if missing:
        raise RuntimeError(f"endpoints declared without a view: {', '.join(sorted(missing))}")


@bp.url_value_preprocessor
def _realm(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """Machine endpoints read the realm from the process cache (``idp.cache``, checked every
    IDP_KEY_CACHE_SECONDS, kept while the database is down); the pages read it fresh."""
    if values and "realm" in values:
        row = declared(endpoint)
        if row is not None and row.machine:
            g.idp_realm = cached_realm(get_session(), values["realm"]) or abort(404)
        else:
            load_realm(values["realm"])


@bp.before_request
def _preflight() -> Response | None:
    """A CORS preflight at an endpoint open to registered origins: 204 (``_cors`` adds the
    headers when the origin is allowed)."""
    row = declared(request.endpoint)
    if request.method == "OPTIONS" and row is not None and row.cors is Cors.REGISTERED_ORIGINS:
        return make_response("", 204)
    return None


@bp.after_request
def _cors(response: Response) -> Response:
    """CORS as the endpoint's row says: public documents to any origin; the token,
    UserInfo and revocation endpoints to the origins of the realm's registered redirect
    URIs, as Keycloak's "web origins" (browser apps, public clients, call them)."""
    row = declared(request.endpoint)
    if row is None or row.cors is Cors.NONE or "idp_realm" not in g:
        return response
    if response.status_code >= 500:  # the database may be what failed: don't ask it again
        return response
    if row.cors is Cors.ANY_ORIGIN:
        response.headers["Access-Control-Allow-Origin"] = "*"
        return response
    origin = request.headers.get("Origin")
    if origin and origin in client_service.allowed_origins(get_session(), g.idp_realm):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
        response.headers["Access-Control-Allow-Methods"] = "GET, POST"
        response.headers["Access-Control-Max-Age"] = "600"
        response.headers.add("Vary", "Origin")
    return response


def server() -> AuthorizationServer:
    return current_app.extensions["idp.server"]


@endpoint("discovery")
def discovery(realm: str) -> Response:
    return discovery_response()


@endpoint("jwks")
def jwks(realm: str) -> Response:
    return jwks_response()


def oauth_error_response(error: OAuth2Error, data: Any = None) -> Response:
    """An error goes back to the client when Authlib established its redirect URI; otherwise
    it is a page. ``data`` is the authorization request (for its response mode)."""
    if getattr(error, "redirect_uri", None):
        response = server().handle_error_response(None, error)
        return deliver(response, error.redirect_uri, request.values if data is None else data)
    return error_page(error)


def authorization_response(req: Any, principal: Principal, grant: Any) -> Response:
    """The code (or an error Authlib finds at the last moment), delivered to the client with
    ``iss`` and by the requested response mode."""
    response = server().create_authorization_response(
        request=req, grant_user=principal, grant=grant
    )
    return deliver(response, grant.redirect_uri, grant.request.payload.data)


def _policy_reasons(data: Any, principal: Principal | None) -> list[str]:
    """The named checks of ``interaction/policy.py`` that the browser's session fails for
    this request ([] when it satisfies it)."""
    hint = data.get("id_token_hint")
    ctx = policy_context.authorization_context(
        get_session(),
        g.idp_realm,
        data,
        user=principal.user if principal else None,
        amr=principal.amr if principal else (),
        auth_time=principal.auth_time if principal else 0,
        hint_sub=hinted_subject(g.idp_realm, hint) if hint is not None else None,
    )
    return policy.prompt_reasons(ctx)


@endpoint("authorize")
def authorize(realm: str) -> ResponseReturnValue:
    """Authlib validates the request (its checks, then ours: ``oidc/authorization_request``),
    once; then the login policy decides: answer now, refuse (``prompt=none``) or sign in."""
    realm_row = g.idp_realm
    use_locale(from_ui_locales(request.values.get("ui_locales")))
    principal = principal_from(current_sso(realm_row))
    try:
        grant = server().get_consent_grant(end_user=principal)
    except OAuth2Error as error:
        return oauth_error_response(error)
    req = grant.request
    data = req.payload.data
    reasons = _policy_reasons(data, principal)
    if not reasons and principal is not None:  # no session fails the policy: "login"
        return authorization_response(req, principal, grant)
    if "none" in (data.get("prompt") or "").split():
        error_cls = (
            LoginRequiredError
            if policy.prompt_none_error(reasons) == "login_required"
            else InteractionRequiredError
        )
        return oauth_error_response(
            error_cls(redirect_uri=grant.redirect_uri, state=data.get("state"))
        )
    db = get_session()
    params = {key: data.get(key) for key in data}
    step_up = principal is not None and not policy.needs_fresh_sign_in(reasons)
    ix, binding = start_interaction(
        db,
        realm_row,
        kind="authorize",
        params=params,
        reason=reasons[0],
        login_hint=data.get("login_hint"),
        # A step-up starts from the signed-in user and the factors the session proved.
        user=principal.user if step_up and principal else None,
        amr=list(principal.amr) if step_up and principal else None,
        from_sid=principal.sid if step_up and principal else None,
    )
    db.commit()
    remember_binding(ix.uid, binding)
    return redirect(url_for("login.start", realm=realm_row.name, uid=ix.uid))


@bp.get("/protocol/openid-connect/auth/resume/<uid>")
def resume(realm: str, uid: str) -> Response:
    """Resume an authorization request whose sign-in finished (node-oidc-provider's
    ``resume``): once, in the browser that signed in, with the session it created."""
    realm_row = g.idp_realm
    db = get_session()
    try:
        ix = load_interaction(db, realm_row, uid, binding_for(uid), finished=True)
    except InteractionError:
        return stale_page(uid, "unknown")
    use_interaction_locale(ix.progress or {}, ix.params or {})  # the form_post page's
    sso = current_sso(realm_row)
    finished_sid = (ix.progress or {}).get("finished_sid")
    if ix.kind != "authorize" or not finished_sid or sso is None or sso.sid != finished_sid:
        return stale_page(uid, "unknown")
    try:
        complete(db, ix)
    except InteractionError:
        return stale_page(uid, "unknown")
    db.commit()
    forget_binding(uid)
    principal = principal_from(sso)
    if principal is None:
        return stale_page(uid, "unknown")
    req = server().resume_request(
        ix.params, url_for("protocol.authorize", realm=realm_row.name, _external=True)
    )
    try:
        grant = server().get_consent_grant(request=req, end_user=principal)
        return authorization_response(req, principal, grant)
    except OAuth2Error as error:
        return oauth_error_response(error, ix.params)


@endpoint("token")
def token(realm: str) -> Response:
    return server().create_token_response()


def _token_from_body() -> Response | None:
    """RFC 6750 2.2: a POST may carry the access token as the form parameter ``access_token``
    instead of the Authorization header (pyoidc does so by default). Exactly one method and
    one token per request; the token then goes through the same Bearer validation."""
    if request.method != "POST" or "access_token" not in request.form:
        return None
    tokens = request.form.getlist("access_token")
    if request.headers.get("Authorization") or len(tokens) != 1:
        resp = jsonify(
            error="invalid_request",
            error_description="Send one access token, in the header or in the body.",
        )
        resp.status_code = 400
        resp.headers["WWW-Authenticate"] = 'Bearer error="invalid_request"'
        return resp
    request.environ["HTTP_AUTHORIZATION"] = f"Bearer {tokens[0]}"
    return None


@endpoint("userinfo")
def userinfo(realm: str) -> Response:
    refused = _token_from_body()
    if refused is not None:
        return refused
    return server().create_endpoint_response("userinfo")


@endpoint("revoke")
def revoke(realm: str) -> Response:
    return server().create_endpoint_response("revocation")


@endpoint("introspect")
def introspect(realm: str) -> Response:
    return server().create_endpoint_response("introspection")


def _hint_is_this_session(claims: dict[str, Any] | None, sso: Any) -> bool:
    """SPEC V3: whether a verified ``id_token_hint`` names the browser's own session: the
    session's user (``sub``) and, when the hint carries one, the session itself (``sid``).
    Without a session there is nothing to end, and nothing to protect."""
    if claims is None:
        return False
    if sso is None:
        return True
    principal = principal_from(sso)
    if principal is None or claims.get("sub") != principal.user.sub:
        return False
    sid = claims.get("sid")
    return sid is None or sid == sso.sid


@endpoint("logout")
def logout(realm: str) -> Response:
    """RP-Initiated Logout 1.0: with an id_token_hint of the browser's own session the
    session ends at once; without one, or with a hint of another user or session (an ID token
    anyone may hold: SPEC V3), the user confirms first (a POST with a CSRF token). Redirects
    only to an exactly registered URI. When applications that signed in to the session have
    front-channel logout URIs, the signed-out page loads them first and then continues to
    that URI (``signed_out.signed_out_page``); without any, the redirect is immediate."""
    from ..app_extensions import csrf
    from ..services.sessions import sign_out_for_client
    from .common import client_address

    realm_row = g.idp_realm
    try:
        end_request = server().validate_endpoint_request("end_session")
    except OAuth2Error as error:
        if isinstance(error.__cause__, JoseError):  # the hint's signature or claims
            return error_page(
                error, reason=_("The 'id_token_hint' is not a valid ID token of this server.")
            )
        return error_page(error)
    sso = current_sso(realm_row)
    if not _hint_is_this_session(end_request.id_token_claims, sso):
        if request.method == "GET":
            fields = {
                k: request.values.get(k)
                for k in ("client_id", "post_logout_redirect_uri", "state", "ui_locales")
                if request.values.get(k)
            }
            if end_request.client is not None and "client_id" not in fields:
                # A hint named the client: the confirmation posts its client_id instead
                # (the URI is then checked against that client's registered ones again).
                fields["client_id"] = end_request.client.client_id
            return make_response(
                render_template(
                    "login/logout_confirm.html",
                    realm=realm_row,
                    client=end_request.client,
                    fields=fields,
                )
            )
        csrf.protect()
    frames: list[str] = []
    if sso is not None:
        db = get_session()
        client = end_request.client
        ended = sign_out_for_client(
            db,
            sso,
            client_id=client.client_id if client is not None else None,
            client_address=client_address(),
        )
        db.commit()
        frames = frames_for(realm_row, ended.sids)
    resp = server().create_endpoint_response("end_session", end_request)
    if frames:
        # Front-Channel Logout 1.0: the applications' iframes first, then on to where
        # Authlib would have redirected (the registered URI, with ``state``), if anywhere.
        continue_to = resp.headers.get("Location") if resp is not None else None
        resp = signed_out_page(realm_row, frames, continue_to=continue_to)
    elif resp is None:
        resp = signed_out_page(realm_row)
    clear_sso_cookie(resp, realm_row)
    return resp


@bp.get("/")
def realm_home(realm: str) -> ResponseReturnValue:
    return redirect(url_for("account.home", realm=realm))
