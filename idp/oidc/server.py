"""Authlib's authorization server, wired to our storage. Grants implement only the storage
hooks; features are added by composition (CodeChallenge, OpenIDCode), as in Authlib's own
example server.

The server is shared by all realms: the realm of the request (``g.idp_realm``, set by the
protocol blueprint from the URL) scopes every client, code, token and key lookup.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer as _FlaskServer
from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Request
from authlib.oauth2.rfc6749 import OAuth2Request, grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6750 import BearerTokenValidator as _BearerTokenValidator
from authlib.oauth2.rfc7009 import RevocationEndpoint as _RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge as _CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _IntrospectionEndpoint
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator as _JWTBearerTokenGenerator
from authlib.oidc.core import UserInfoEndpoint as _UserInfoEndpoint
from authlib.oidc.core.grants import OpenIDCode as _OpenIDCode
from authlib.oidc.rpinitiated import EndSessionEndpoint as _EndSessionEndpoint
from flask import Flask, g
from flask import request as flask_request
from sqlalchemy import select, update

from .. import clock
from ..db import get_session, utcnow
from ..models import AuthorizationCode, Client, Realm, Token, User
from ..services import clients as client_service
from ..services.context import settings
from ..services.crypto import digest, random_token
from ..services.keys import public_key_set, realm_keys
from .claims import Principal, acr_for, essential_acr, user_claims

CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


#: How an authorization response may reach the client (OAuth 2.0 Multiple Response Types
#: and Form Post Response Mode); ``query`` is the default for ``code``.
RESPONSE_MODES = ("query", "fragment", "form_post")


def current_realm() -> Realm:
    return g.idp_realm


def issuer_for(realm: Realm) -> str:
    return f"{settings().base_url}/realms/{realm.name}"


def _principal_for(
    user_id: int | None, amr: list[str], auth_time: int | None, sid: str | None
) -> Principal | None:
    if user_id is None:
        return None
    user = get_session().get(User, user_id)
    if user is None or user.disabled:
        return None
    return Principal(user=user, amr=list(amr or []), auth_time=auth_time or 0, sid=sid)


def _essential(data: Any) -> tuple[str, ...]:
    try:
        return essential_acr(data.get("claims"))
    except ValueError:
        return ()


def _jwt_claims(token: str) -> dict[str, Any]:
    """Claims of a JWT we just signed ourselves (no verification needed)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


# -- token generation (RFC 9068 JWT access tokens) ---------------------------------------------
class JWTBearerTokenGenerator(_JWTBearerTokenGenerator):
    def __init__(self) -> None:
        super().__init__(
            issuer="",
            refresh_token_generator=self._refresh_token,
            expires_generator=self._expires_in,
        )

    @property  # type: ignore[override]
    def issuer(self) -> str:
        return issuer_for(current_realm())

    @issuer.setter
    def issuer(self, value: str) -> None:
        pass

    @property  # type: ignore[override]
    def alg(self) -> str:
        return realm_keys(get_session(), current_realm().id).active_alg

    @alg.setter
    def alg(self, value: str) -> None:
        pass

    @staticmethod
    def _refresh_token(*_args: Any, **_kwargs: Any) -> str:
        return random_token(48)

    @staticmethod
    def _expires_in(_client: Any, _grant_type: str) -> int:
        return settings().access_token_ttl

    def get_jwks(self) -> Any:
        return realm_keys(get_session(), current_realm().id).active_private

    def get_auth_time(self, user: Principal | None) -> int | None:
        return user.auth_time if user else None

    def get_amr(self, user: Principal | None) -> list[str] | None:
        return user.amr if user else None

    def get_acr(self, user: Principal | None) -> str | None:
        return user.extra.get("acr") if user else None

    def get_extra_claims(
        self, client: Client, grant_type: str, user: Principal | None, scope: str
    ) -> dict[str, Any]:
        return {"sid": user.sid} if user and user.sid else {}


# -- grants ---------------------------------------------------------------------------------
class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = [*CLIENT_AUTH_METHODS, "none"]

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        principal: Principal = request.user
        data = request.payload.data
        db = get_session()
        db.add(
            AuthorizationCode(
                realm_id=current_realm().id,
                code_digest=digest(code),
                client_id=request.client.id,
                user_id=principal.user.id,
                redirect_uri=data.get("redirect_uri"),
                scope=request.scope or "",
                nonce=data.get("nonce"),
                code_challenge=data.get("code_challenge"),
                code_challenge_method=data.get("code_challenge_method"),
                auth_time=principal.auth_time,
                amr=principal.amr,
                acr=acr_for(principal.amr, data.get("acr_values"), _essential(data)),
                sid=principal.sid,
                expires_at=utcnow() + timedelta(seconds=settings().code_ttl),
            )
        )
        db.commit()

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        """Find the code and consume it atomically. A second use finds it spent, refuses it
        and revokes every token the first use issued (RFC 6749 4.1.2)."""
        db = get_session()
        if not isinstance(code, str) or len(code) > 200:
            return None
        row = db.scalar(
            select(AuthorizationCode).where(
                AuthorizationCode.code_digest == digest(code),
                AuthorizationCode.client_id == client.id,
            )
        )
        if row is None:
            return None
        spent = db.execute(
            update(AuthorizationCode)
            .where(AuthorizationCode.id == row.id, AuthorizationCode.used_at.is_(None))
            .values(used_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if spent.rowcount != 1:
            db.execute(
                update(Token)
                .where(Token.code_id == row.id, Token.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
            db.commit()
            return None
        db.commit()
        if row.is_expired():  # Authlib does not check it: an expired code is spent, refused
            return None
        return row

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        """Nothing to do: the code was consumed when it was looked up."""

    def authenticate_user(self, authorization_code: AuthorizationCode) -> Principal | None:
        principal = _principal_for(
            authorization_code.user_id,
            authorization_code.amr,
            authorization_code.auth_time,
            authorization_code.sid,
        )
        if principal:
            principal.extra["acr"] = authorization_code.acr
        return principal


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = [*CLIENT_AUTH_METHODS, "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
        if not isinstance(refresh_token, str) or len(refresh_token) > 200:
            return None
        db = get_session()
        row = db.scalar(select(Token).where(Token.refresh_digest == digest(refresh_token)))
        if row is None or row.realm_id != current_realm().id or row.revoked_at is not None:
            return None
        if row.rotated_at is not None:
            _revoke_family(row.family_id)
            return None
        if row.is_refresh_token_expired():
            return None
        return row

    def authenticate_user(self, refresh_token: Token) -> Principal | None:
        principal = _principal_for(
            refresh_token.user_id, refresh_token.amr, refresh_token.auth_time, refresh_token.sid
        )
        if principal:
            principal.extra["acr"] = refresh_token.acr
        return principal

    def revoke_old_credential(self, refresh_token: Token) -> None:
        db = get_session()
        rotated = db.execute(
            update(Token)
            .where(Token.id == refresh_token.id, Token.rotated_at.is_(None))
            .values(rotated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if rotated.rowcount != 1:  # spent concurrently: treat as reuse
            _revoke_family(refresh_token.family_id)
            raise InvalidGrantError("refresh token already used")
        db.commit()


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS


def _revoke_family(family_id: str) -> None:
    db = get_session()
    db.execute(
        update(Token)
        .where(Token.family_id == family_id, Token.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    db.commit()


class CodeChallenge(_CodeChallenge):
    """PKCE (RFC 7636). ``plain`` is refused; S256 is required of public clients."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        challenge = data.get("code_challenge")
        if grant.request.client.public and not challenge:
            raise InvalidRequestError("PKCE with S256 is required of public clients.")
        if challenge and data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be S256.")
        super().validate_code_challenge(grant, redirect_uri)

    def get_authorization_code_challenge(self, authorization_code: AuthorizationCode) -> str:
        return authorization_code.code_challenge or ""

    def get_authorization_code_challenge_method(
        self, authorization_code: AuthorizationCode
    ) -> str | None:
        return authorization_code.code_challenge_method


class OpenIDCode(_OpenIDCode):
    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        client = client_service.find_client(
            get_session(), current_realm(), request.payload.client_id
        )
        if client is None:
            return False
        return (
            get_session().scalar(
                select(AuthorizationCode.id)
                .where(AuthorizationCode.client_id == client.id, AuthorizationCode.nonce == nonce)
                .limit(1)
            )
            is not None
        )

    def resolve_client_private_key(self, client: Client) -> Any:
        return realm_keys(get_session(), current_realm().id).active_private

    def get_client_algorithm(self, client: Client) -> str:
        return realm_keys(get_session(), current_realm().id).active_alg

    def get_encode_header(self, client: Client) -> dict[str, str]:
        keys = realm_keys(get_session(), current_realm().id)
        return {"alg": keys.active_alg, "kid": keys.active_kid, "typ": "JWT"}

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        now = int(clock.timestamp())
        return {
            "iss": issuer_for(current_realm()),
            "aud": client.client_id,
            "iat": now,
            "exp": now + settings().id_token_ttl,
        }

    def get_authorization_code_claims(
        self, authorization_code: AuthorizationCode
    ) -> dict[str, Any]:
        claims = super().get_authorization_code_claims(authorization_code)
        if authorization_code.sid:
            claims["sid"] = authorization_code.sid
        return claims

    def generate_user_info(self, user: Principal, scope: str) -> Any:
        return user_claims(user.user, scope)


# -- endpoints ------------------------------------------------------------------------------
class BearerTokenValidator(_BearerTokenValidator):
    def authenticate_token(self, token_string: str) -> Token | None:
        if not isinstance(token_string, str) or len(token_string) > 8000:
            return None
        row = get_session().scalar(select(Token).where(Token.access_digest == digest(token_string)))
        if row is None or row.realm_id != current_realm().id:
            return None
        return _TokenView(row)


class _TokenView:
    """A token row as Authlib's resource protector and userinfo endpoint see it."""

    def __init__(self, row: Token) -> None:
        self.row = row
        self.scope = row.scope

    def get_scope(self) -> str:
        return self.row.scope

    def is_expired(self) -> bool:
        return self.row.is_expired()

    def is_revoked(self) -> bool:
        return self.row.is_revoked()

    def get_client(self) -> Client:
        return get_session().get(Client, self.row.client_id)

    def get_user(self) -> User | None:
        return get_session().get(User, self.row.user_id) if self.row.user_id else None


class UserInfoEndpoint(_UserInfoEndpoint):
    def get_issuer(self) -> str:
        return issuer_for(current_realm())

    def generate_user_info(self, user: User | None, scope: str) -> Any:
        if user is None or user.disabled:
            from authlib.oauth2.rfc6750 import InvalidTokenError

            raise InvalidTokenError()
        return user_claims(user, scope)

    def resolve_private_key(self) -> Any:
        return realm_keys(get_session(), current_realm().id).active_private


def _query_any_token(token_string: str, hint: str | None) -> Token | None:
    if not isinstance(token_string, str) or len(token_string) > 8000:
        return None
    db = get_session()
    d = digest(token_string)
    row = None
    if hint != "refresh_token":
        row = db.scalar(select(Token).where(Token.access_digest == d))
    if row is None and hint != "access_token":
        row = db.scalar(select(Token).where(Token.refresh_digest == d))
    if row is None and hint == "refresh_token":
        row = db.scalar(select(Token).where(Token.access_digest == d))
    if row is None or row.realm_id != current_realm().id:
        return None
    row._matched_refresh = row.refresh_digest == d  # type: ignore[attr-defined]
    return row


class RevocationEndpoint(_RevocationEndpoint):
    """RFC 7009. Revoking a refresh token revokes its whole family (every token rotated
    from the same authorization); revoking an access token revokes that token's row."""

    CLIENT_AUTH_METHODS = [*CLIENT_AUTH_METHODS, "none"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        return _query_any_token(token_string, token_type_hint)

    def revoke_token(self, token: Token, request: OAuth2Request) -> None:
        if getattr(token, "_matched_refresh", False):
            _revoke_family(token.family_id)
        else:
            token.revoked_at = utcnow()
            get_session().commit()


class IntrospectionEndpoint(_IntrospectionEndpoint):
    """RFC 7662, for confidential clients of the same realm (resource servers). Answers
    carry ``acr`` and ``auth_time`` (SPEC T4, RFC 9470)."""

    CLIENT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        row = _query_any_token(token_string, token_type_hint)
        if row is None:
            return None
        if getattr(row, "_matched_refresh", False):
            if row.rotated_at is not None or row.is_refresh_token_expired():
                return None
            return _RefreshView(row)
        return row

    def check_permission(self, token: Token, client: Client, request: OAuth2Request) -> bool:
        return not client.public and client.realm_id == current_realm().id

    def introspect_token(self, token: Token) -> dict[str, Any]:
        row: Token = getattr(token, "row", token)
        db = get_session()
        client = db.get(Client, row.client_id)
        user = db.get(User, row.user_id) if row.user_id else None
        expires = (
            row.refresh_expires_at if isinstance(token, _RefreshView) else row.access_expires_at
        )
        data: dict[str, Any] = {
            "active": True,
            "iss": issuer_for(current_realm()),
            "client_id": client.client_id if client else None,
            "token_type": "refresh_token" if isinstance(token, _RefreshView) else "Bearer",
            "scope": row.scope,
            "sub": user.sub if user else (client.client_id if client else None),
            "aud": client.client_id if client else None,
            "iat": int(row.issued_at.timestamp()),
            "exp": int(expires.timestamp()) if expires else None,
        }
        if user:
            data["username"] = user.email
        if row.auth_time:
            data["auth_time"] = row.auth_time
        if row.acr:
            data["acr"] = row.acr
        if row.amr:
            data["amr"] = row.amr
        if row.sid:
            data["sid"] = row.sid
        return data


class _RefreshView:
    def __init__(self, row: Token) -> None:
        self.row = row

    def check_client(self, client: Client) -> bool:
        return self.row.check_client(client)

    def is_expired(self) -> bool:
        return self.row.is_refresh_token_expired()

    def is_revoked(self) -> bool:
        return self.row.is_revoked()

    def get_scope(self) -> str:
        return self.row.scope


class EndSessionEndpoint(_EndSessionEndpoint):
    """RP-Initiated Logout 1.0. The view ends the browser's SSO session itself."""

    def get_server_jwks(self) -> Any:
        return public_key_set(get_session(), current_realm().id)

    def is_post_logout_redirect_uri_legitimate(
        self, request: Any, post_logout_redirect_uri: str, client: Any, logout_hint: Any
    ) -> bool:
        # Without an id_token_hint the view first asks the user to confirm (a POST with a
        # CSRF token); the URI still has to match one registered for the client exactly.
        return request.method == "POST"

    def end_session(self, end_session_request: Any) -> None:
        """The view has ended the browser's session already."""

    def resolve_client_from_id_token_claims(self, id_token_claims: dict[str, Any]) -> Any:
        if id_token_claims.get("iss") != issuer_for(current_realm()):
            return None
        aud = id_token_claims.get("aud")
        if isinstance(aud, list) and len(aud) == 1:
            aud = aud[0]
        if isinstance(aud, str):
            return self.server.query_client(aud)
        return None


# -- the server -----------------------------------------------------------------------------
class AuthorizationServer(_FlaskServer):
    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        return FlaskOAuth2Request(flask_request)

    def query_client(self, client_id: str) -> Client | None:
        return client_service.find_client(get_session(), current_realm(), client_id)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        db = get_session()
        principal: Principal | None = request.user
        now = utcnow()
        previous: Token | None = (
            request.refresh_token if isinstance(request.refresh_token, Token) else None
        )
        code: AuthorizationCode | None = (
            request.authorization_code
            if isinstance(request.authorization_code, AuthorizationCode)
            else None
        )
        claims = _jwt_claims(token["access_token"])
        refresh = token.get("refresh_token")
        db.add(
            Token(
                realm_id=current_realm().id,
                client_id=request.client.id,
                user_id=principal.user.id if principal else None,
                access_digest=digest(token["access_token"]),
                refresh_digest=digest(refresh) if refresh else None,
                jti=claims.get("jti", ""),
                scope=token.get("scope", "") or "",
                family_id=previous.family_id if previous else random_token(16),
                code_id=code.id if code else None,
                sid=principal.sid if principal else None,
                auth_time=principal.auth_time if principal else None,
                amr=principal.amr if principal else [],
                acr=principal.extra.get("acr") if principal else None,
                issued_at=now,
                access_expires_at=now + timedelta(seconds=int(token["expires_in"])),
                refresh_expires_at=(now + timedelta(seconds=settings().refresh_token_ttl))
                if refresh
                else None,
            )
        )
        db.commit()

    def resume_request(self, params: dict[str, str], uri: str) -> OAuth2Request:
        """Rebuild a stored authorization request (an interaction resumes it)."""
        req = OAuth2Request("GET", uri)
        req.payload = BasicOAuth2Payload(dict(params))
        return req


def init_server(app: Flask) -> AuthorizationServer:
    server = AuthorizationServer()
    server.init_app(app)
    server.register_token_generator("default", JWTBearerTokenGenerator())
    server.register_grant(
        AuthorizationCodeGrant, [CodeChallenge(required=True), OpenIDCode(require_nonce=False)]
    )
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
