"""The grants (RFC 6749 4.1, 4.4, 6), PKCE (RFC 7636) and OpenID Connect's code flow. As in
Authlib's example server they implement only the storage hooks, by calling
``services.tokens``; features are added by composition (``CodeChallenge``, ``OpenIDCode``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Request, grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError, OAuth2Error
from authlib.oauth2.rfc7636 import CodeChallenge as _CodeChallenge
from authlib.oidc.core.grants import OpenIDCode as _OpenIDCode

from .. import clock
from ..assurance import acr_for, essential_acr
from ..db import get_session
from ..models import AuthorizationCode, Client, Token, User
from ..services import sessions, tokens
from ..services.context import settings
from ..services.crypto import random_token
from ..services.keys import realm_keys
from .claims import Principal, user_claims
from .context import CLIENT_AUTH_METHODS, current_realm, issuer_for


def principal_for(
    user_id: int | None, amr: list[str], auth_time: int | None, sid: str | None
) -> Principal | None:
    """The signed-in user a code or refresh token stands for; None once disabled."""
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


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = [*CLIENT_AUTH_METHODS, "none"]

    def __init__(self, request: OAuth2Request, server: Any) -> None:
        super().__init__(request, server)
        #: Hooks in the order the extensions registered them (Authlib keeps a set): our
        #: own checks (``AuthorizationRequestChecks``) run after Authlib's and OpenID's.
        self._hooks: defaultdict[str, list[Callable[..., Any]]] = defaultdict(list)
        self._validated_redirect_uri: str | None = None

    def register_hook(self, hook_type: str, hook: Callable[..., Any]) -> None:
        if hook not in self._hooks[hook_type]:
            self._hooks[hook_type].append(hook)

    def validate_authorization_request(self) -> str:
        """Validated once per request: ``get_consent_grant`` validates the request, and
        Authlib's ``create_authorization_response`` asks again when it issues the code; the
        second time gets the first answer (no second client lookup, no second nonce
        query). A request that failed raised, so nothing is kept."""
        if self._validated_redirect_uri is None:
            redirect_uri: str = super().validate_authorization_request()
            self._validated_redirect_uri = redirect_uri
        return self._validated_redirect_uri

    def generate_authorization_code(self) -> str:
        """256 random bits from ``secrets`` in one call (Authlib's ``generate_token`` asks
        the OS for randomness once per character)."""
        return random_token(32)

    @staticmethod
    def validate_authorization_redirect_uri(request: OAuth2Request, client: Client) -> str:
        """As Authlib's, without echoing the URI into the error (its characters may be
        ones an ``error_description`` must not carry, RFC 6749 4.1.2.1)."""
        redirect_uri: str | None = request.payload.redirect_uri
        if not redirect_uri:
            raise InvalidRequestError(
                "Missing 'redirect_uri' in request.", state=request.payload.state
            )
        if not client.check_redirect_uri(redirect_uri):
            raise InvalidRequestError("The 'redirect_uri' is not registered for this client.")
        return redirect_uri

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        principal: Principal = request.user
        data = request.payload.data
        db = get_session()
        tokens.save_authorization_code(
            db,
            realm_id=current_realm().id,
            code=code,
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
            ttl=settings().code_ttl,
        )
        db.commit()

    def validate_token_request(self) -> None:
        try:
            super().validate_token_request()
        except OAuth2Error:
            get_session().commit()  # a refused redemption spends the code all the same
            raise

    def create_token_response(self) -> Any:
        try:
            return super().create_token_response()
        except OAuth2Error:
            get_session().commit()
            raise

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        """Find the code and consume it atomically (a second use revokes what the first
        issued).

        Not committed here: the code is marked used in the same transaction that records
        its tokens (``save_token`` commits both), so no other request can see it spent
        before its tokens exist. A concurrent second use waits for that commit (the code's
        row lock on PostgreSQL, SQLite's write lock), then finds the code spent and revokes
        the tokens, which are now there to revoke (V6). A refused redemption commits in
        ``validate_token_request`` or ``create_token_response``."""
        return tokens.consume_authorization_code(get_session(), client.id, code)

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        """Nothing to do: the code was consumed when it was looked up."""

    def authenticate_user(self, authorization_code: AuthorizationCode) -> Principal | None:
        sid = authorization_code.sid
        if sid and not sessions.session_is_active(get_session(), sid):
            # The session ended (signed out, replaced) between the code and its exchange:
            # tokens issued now would outlive it, and single sign-out would not know to tell
            # this client (as Keycloak: "Session not active").
            raise InvalidGrantError("the session this code was issued in has ended")
        principal = principal_for(
            authorization_code.user_id,
            authorization_code.amr,
            authorization_code.auth_time,
            authorization_code.sid,
        )
        if principal:
            principal.extra["acr"] = authorization_code.acr
        return principal


class RefreshTokenGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = [*CLIENT_AUTH_METHODS, "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
        db = get_session()
        row = tokens.find_refresh_token(db, current_realm().id, refresh_token)
        db.commit()  # a replay revoked the family
        return row

    def authenticate_user(self, refresh_token: Token) -> Principal | None:
        principal = principal_for(
            refresh_token.user_id, refresh_token.amr, refresh_token.auth_time, refresh_token.sid
        )
        if principal:
            principal.extra["acr"] = refresh_token.acr
        return principal

    def revoke_old_credential(self, refresh_token: Token) -> None:
        db = get_session()
        rotated = tokens.rotate_refresh_token(db, refresh_token)
        db.commit()
        if not rotated:  # spent concurrently: treat as reuse
            raise InvalidGrantError("refresh token already used")


class ClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS


class CodeChallenge(_CodeChallenge):  # type: ignore[misc]
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


class OpenIDCode(_OpenIDCode):  # type: ignore[misc]
    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        """Authlib asks once the client is established (``request.client``)."""
        return tokens.nonce_used(get_session(), request.client.id, nonce)

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
        claims: dict[str, Any] = super().get_authorization_code_claims(authorization_code)
        if authorization_code.sid:
            claims["sid"] = authorization_code.sid
        return claims

    def generate_user_info(self, user: Principal, scope: str) -> Any:
        return user_claims(user.user, scope)
