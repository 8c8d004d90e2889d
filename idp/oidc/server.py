"""Authlib's authorization server, wired to our storage and shared by all realms: the realm
of the request (``g.idp_realm``, set by the protocol blueprint from the URL) scopes every
client, code, token and key lookup.

The parts live by responsibility: ``grants`` (code, refresh, client credentials, PKCE,
OpenID), ``authorization_request`` (our own checks of an authorization request),
``token_generation`` (RFC 9068 JWT access tokens), ``endpoints`` (UserInfo, revocation,
introspection, logout), ``client_auth`` (``client_secret_basic``); their SQL is
``services.tokens``. ``endpoint_table`` declares where each endpoint lives and how it is
served. This module assembles them.
"""

from __future__ import annotations

from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer as _FlaskServer
from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Request
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.errors import UnsupportedResponseTypeError
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from flask import Flask
from flask import request as flask_request

from ..db import begin_autocommit, get_session
from ..models import AuthorizationCode, Client, Token
from ..services import clients as client_service
from ..services import tokens
from ..services.context import settings
from ..services.logout import record_session_client
from .authorization_request import AuthorizationRequestChecks
from .claims import Principal
from .client_auth import authenticate_client_secret_basic
from .context import CLIENT_AUTH_METHODS, RESPONSE_MODES, current_realm, issuer_for
from .endpoints import (
    BearerTokenValidator,
    EndSessionEndpoint,
    IntrospectionEndpoint,
    RevocationEndpoint,
    UserInfoEndpoint,
)
from .grants import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    CodeChallenge,
    OpenIDCode,
    RefreshTokenGrant,
)
from .token_generation import JWTBearerTokenGenerator, jwt_claims

__all__ = [
    "CLIENT_AUTH_METHODS",
    "RESPONSE_MODES",
    "AuthorizationServer",
    "current_realm",
    "init_server",
    "issuer_for",
]


class AuthorizationServer(_FlaskServer):  # type: ignore[misc]
    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        return FlaskOAuth2Request(flask_request)

    def query_client(self, client_id: str) -> Client | None:
        """The client from the process cache (``services.clients.cached_client``): a change
        is seen within ``IDP_KEY_CACHE_SECONDS``."""
        return client_service.cached_client(get_session(), current_realm().id, client_id)

    def get_authorization_grant(self, request: OAuth2Request) -> Any:
        """As Authlib's, but an unsupported ``response_type`` is not echoed into the error:
        quotes, backslashes, tabs or non-ASCII characters may not appear in an
        ``error_description`` (RFC 6749 4.1.2.1), and Authlib refuses to build one."""
        grants = self._authorization_grants
        if not any(cls.check_authorization_endpoint(request) for cls, _ in grants):
            raise UnsupportedResponseTypeError(
                "",
                description="Unsupported 'response_type'; supported: code.",
                redirect_uri=self._error_redirect_uri(request),
            )
        return super().get_authorization_grant(request)

    def _error_redirect_uri(self, request: OAuth2Request) -> str | None:
        """Where an error may go back to: only a redirect URI registered for a known client
        (RFC 6749 4.1.2.1); otherwise the error is shown as a page."""
        client_id = request.payload.client_id
        client = self.query_client(client_id) if client_id else None
        uri: str | None = request.payload.redirect_uri
        if client is not None and uri and client.check_redirect_uri(uri):
            return uri
        return None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        principal: Principal | None = request.user
        previous = request.refresh_token if isinstance(request.refresh_token, Token) else None
        code = (
            request.authorization_code
            if isinstance(request.authorization_code, AuthorizationCode)
            else None
        )
        db = get_session()
        # Nothing read or written yet in this request (client credentials, with the client
        # cached): the INSERT is then the transaction, one round trip.
        begin_autocommit(db)
        tokens.record_token(
            db,
            realm_id=current_realm().id,
            client_id=request.client.id,
            user_id=principal.user.id if principal else None,
            access_token=token["access_token"],
            refresh_token=token.get("refresh_token"),
            jti=jwt_claims(token["access_token"]).get("jti", ""),
            scope=token.get("scope", "") or "",
            family_id=previous.family_id if previous else None,
            code_id=code.id if code else None,
            sid=principal.sid if principal else None,
            auth_time=principal.auth_time if principal else None,
            amr=principal.amr if principal else [],
            acr=principal.extra.get("acr") if principal else None,
            expires_in=int(token["expires_in"]),
            refresh_ttl=settings().refresh_token_ttl,
        )
        if code is not None and principal is not None:
            # The client signed in to the session: single sign-out tells it when it ends.
            record_session_client(db, principal.sid, request.client.id)
        db.commit()

    def resume_request(self, params: dict[str, str], uri: str) -> OAuth2Request:
        """Rebuild a stored authorization request (an interaction resumes it)."""
        req = OAuth2Request("GET", uri)
        req.payload = BasicOAuth2Payload(dict(params))
        return req


def init_server(app: Flask) -> AuthorizationServer:
    server = AuthorizationServer()
    server.init_app(app)
    server.register_client_auth_method("client_secret_basic", authenticate_client_secret_basic)
    server.register_token_generator("default", JWTBearerTokenGenerator())
    # The authorization request is checked by Authlib, then by each extension in turn.
    server.register_grant(
        AuthorizationCodeGrant,
        [
            CodeChallenge(required=True),
            OpenIDCode(require_nonce=False),
            AuthorizationRequestChecks(),
        ],
    )
    # RFC 9126 (pushed authorization requests) would plug in here: its endpoint, and a hook
    # that swaps a pushed request in for its request_uri (oidc/authorization_request.py):
    #   server.register_endpoint(PushedAuthorizationEndpoint)
    #   server.register_hook("before_get_authorization_grant", resolve_pushed_request)
    server.register_grant(RefreshTokenGrant)
    server.register_grant(ClientCredentialsGrant)
    protector = ResourceProtector()
    protector.register_token_validator(BearerTokenValidator())
    server.register_endpoint(UserInfoEndpoint(resource_protector=protector))
    server.register_endpoint(RevocationEndpoint)
    server.register_endpoint(IntrospectionEndpoint)
    server.register_endpoint(EndSessionEndpoint)
    app.extensions["idp.server"] = server
    return server
