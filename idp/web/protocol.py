"""OpenID Connect endpoints under ``/realms/<realm>/`` (Keycloak's URL layout).

The authorization endpoint validates the request with Authlib, applies the login policy and
either answers at once (an SSO session satisfies it) or stores the request in an interaction
and sends the browser to the hosted sign-in. The pages never parse OAuth parameters.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.errors import AccessDeniedError, InvalidRequestError
from authlib.oidc.core.errors import (
    InteractionRequiredError,
    LoginRequiredError,
    RegistrationNotSupportedError,
    RequestNotSupportedError,
    RequestURINotSupportedError,
)
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
from flask_babel import gettext as _
from joserfc.errors import JoseError

from ..assurance import ACR_VALUES, essential_acr
from ..db import get_session
from ..i18n import from_ui_locales, use_interaction_locale, use_locale
from ..interaction import context as policy_context
from ..interaction import policy
from ..interaction.flow import InteractionError, complete, load_interaction, start_interaction
from ..oidc.claims import Principal
from ..oidc.discovery import discovery_response, jwks_response
from ..oidc.hints import hinted_subject
from ..oidc.server import RESPONSE_MODES, AuthorizationServer
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

bp = Blueprint("protocol", __name__, url_prefix="/realms/<realm>")


#: Endpoints for machines: they read the realm from the process cache (``idp.cache``, checked
#: every IDP_KEY_CACHE_SECONDS, kept while the database is down); the pages read it fresh.
CACHED_REALM_ENDPOINTS = {
    "protocol.discovery",
    "protocol.jwks",
    "protocol.token",
    "protocol.userinfo",
    "protocol.revoke",
    "protocol.introspect",
}


@bp.url_value_preprocessor
def _realm(endpoint: str | None, values: dict[str, Any] | None) -> None:
    if values and "realm" in values:
        if endpoint in CACHED_REALM_ENDPOINTS:
            g.idp_realm = cached_realm(get_session(), values["realm"]) or abort(404)
        else:
            load_realm(values["realm"])


CORS_ENDPOINTS = {"protocol.token", "protocol.userinfo", "protocol.revoke"}


@bp.after_request
def _cors(response: Response) -> Response:
    """Browser apps (public clients) call these endpoints cross-origin: allow the origins of
    the realm's registered redirect URIs, as Keycloak's "web origins" do."""
    origin = request.headers.get("Origin")
    if not origin or request.endpoint not in CORS_ENDPOINTS or "idp_realm" not in g:
        return response
    if response.status_code >= 500:  # the database may be what failed: don't ask it again
        return response
    if origin in client_service.allowed_origins(get_session(), g.idp_realm):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
        response.headers["Access-Control-Allow-Methods"] = "GET, POST"
        response.headers["Access-Control-Max-Age"] = "600"
        response.headers.add("Vary", "Origin")
    return response


def server() -> AuthorizationServer:
    return current_app.extensions["idp.server"]


@bp.get("/.well-known/openid-configuration")
def discovery(realm: str) -> Response:
    return discovery_response()


@bp.get("/protocol/openid-connect/certs")
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


#: Longest accepted value per parameter (the stored columns' sizes, and sane bounds).
PARAMETER_LIMITS = {
    "nonce": 255,
    "state": 2000,
    "login_hint": 320,
    "acr_values": 1000,
    "ui_locales": 200,
    "max_age": 10,
    "claims": 4000,
    "id_token_hint": 8000,
}


def _parameter_problem(data: Any) -> str | None:
    for name, limit in PARAMETER_LIMITS.items():
        value = data.get(name)
        if value is not None and len(value) > limit:
            return f"'{name}' is longer than {limit} characters."
    max_age = data.get("max_age")
    if max_age is not None and not (max_age.isascii() and max_age.isdigit()):
        return "'max_age' must be a non-negative integer."
    try:
        essential_acr(data.get("claims"))
    except ValueError as exc:
        return str(exc)
    mode = data.get("response_mode")
    if mode is not None and mode not in RESPONSE_MODES:
        return f"Unsupported 'response_mode'; supported: {', '.join(RESPONSE_MODES)}."
    return None


def _unsupported_feature(data: Any, grant: Any) -> OAuth2Error | None:
    """Request objects and dynamic registration are not offered (OIDC Core 6 and 3.1.2.6:
    such a request gets its own error rather than having the parameter ignored)."""
    state = data.get("state")
    for name, error_cls in (
        ("request", RequestNotSupportedError),
        ("request_uri", RequestURINotSupportedError),
        ("registration", RegistrationNotSupportedError),
    ):
        if data.get(name) is not None:
            return error_cls(redirect_uri=grant.redirect_uri, state=state)
    return None


@bp.route("/protocol/openid-connect/auth", methods=["GET", "POST"])
def authorize(realm: str) -> Response:

    realm_row = g.idp_realm
    use_locale(from_ui_locales(request.values.get("ui_locales")))
    principal = principal_from(current_sso(realm_row))
    try:
        grant = server().get_consent_grant(end_user=principal)
    except OAuth2Error as error:
        return oauth_error_response(error)
    req = grant.request
    data = req.payload.data
    problem = _parameter_problem(data)
    if problem:
        return oauth_error_response(
            InvalidRequestError(problem, redirect_uri=grant.redirect_uri, state=data.get("state"))
        )
    unsupported = _unsupported_feature(data, grant)
    if unsupported is not None:
        return oauth_error_response(unsupported)
    if policy.essential_acr_unsatisfiable(essential_acr(data.get("claims"))):
        # SPEC V4: refused before any sign-in, as the failed authentication OIDC Core
        # 5.5.1.1 asks for. access_denied (RFC 6749) rather than OpenID's
        # unmet_authentication_requirements: strict relying parties such as pyoidc refuse
        # an error code outside RFC 6749 and OIDC Core as a "faulty response".
        return oauth_error_response(
            AccessDeniedError(
                "None of the essential 'acr' values can be met; this provider issues "
                f"{', '.join(ACR_VALUES)}.",
                redirect_uri=grant.redirect_uri,
                state=data.get("state"),
            )
        )
    reasons = _policy_reasons(data, principal)
    if not reasons:
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


@bp.route("/protocol/openid-connect/token", methods=["POST", "OPTIONS"])
def token(realm: str) -> Response:
    if request.method == "OPTIONS":
        return make_response("", 204)
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


@bp.route("/protocol/openid-connect/userinfo", methods=["GET", "POST", "OPTIONS"])
def userinfo(realm: str) -> Response:
    if request.method == "OPTIONS":
        return make_response("", 204)
    refused = _token_from_body()
    if refused is not None:
        return refused
    return server().create_endpoint_response("userinfo")


@bp.route("/protocol/openid-connect/revoke", methods=["POST", "OPTIONS"])
def revoke(realm: str) -> Response:
    if request.method == "OPTIONS":
        return make_response("", 204)
    return server().create_endpoint_response("revocation")


@bp.post("/protocol/openid-connect/token/introspect")
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


@bp.route("/protocol/openid-connect/logout", methods=["GET", "POST"])
def logout(realm: str) -> Response:
    """RP-Initiated Logout 1.0: with an id_token_hint of the browser's own session the
    session ends at once; without one, or with a hint of another user or session (an ID token
    anyone may hold: SPEC V3), the user confirms first (a POST with a CSRF token). Redirects
    only to an exactly registered URI."""
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
    if sso is not None:
        db = get_session()
        client = end_request.client
        sign_out_for_client(
            db,
            sso,
            client_id=client.client_id if client is not None else None,
            client_address=client_address(),
        )
        db.commit()
    resp = server().create_endpoint_response("end_session", end_request)
    if resp is None:
        resp = make_response(render_template("login/logged_out.html", realm=realm_row))
    clear_sso_cookie(resp, realm_row)
    return resp


@bp.get("/")
def realm_home(realm: str) -> Response:
    return redirect(url_for("account.home", realm=realm))
