"""The endpoints beside the token endpoint: UserInfo (OIDC Core 5.3), revocation (RFC 7009),
introspection (RFC 7662) and RP-initiated logout. Their storage is ``services.tokens``."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Request
from authlib.oauth2.rfc6750 import BearerTokenValidator as _BearerTokenValidator
from authlib.oauth2.rfc6750 import InvalidTokenError
from authlib.oauth2.rfc7009 import RevocationEndpoint as _RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _IntrospectionEndpoint
from authlib.oidc.core import UserInfoEndpoint as _UserInfoEndpoint
from authlib.oidc.rpinitiated import EndSessionEndpoint as _EndSessionEndpoint
from joserfc.errors import InvalidTokenError as NotTheRightToken

from ..db import begin_autocommit, get_session
from ..models import Client, Token, User
from ..services import tokens
from ..services.keys import public_key_set, realm_keys
from ..services.tokens import FoundToken
from .claims import user_claims
from .context import CLIENT_AUTH_METHODS, current_realm, issuer_for
from .hints import compact_header, is_id_token


class _TokenView:
    """A token row as Authlib's resource protector, UserInfo, revocation and introspection
    endpoints see it: the access token, or (``is_refresh``) the refresh token of the row."""

    def __init__(self, found: FoundToken) -> None:
        self.found = found
        self.row = found.row
        self.scope = found.row.scope
        #: The token's own client, once it authenticated (introspection).
        self.client: Client | None = None

    @property
    def is_refresh(self) -> bool:
        return self.found.is_refresh

    def check_client(self, client: Client) -> bool:
        return self.row.check_client(client)

    def get_scope(self) -> str:
        return self.row.scope

    def is_expired(self) -> bool:
        if self.is_refresh:
            return self.row.rotated_at is not None or self.row.is_refresh_token_expired()
        return self.row.is_expired()

    def is_revoked(self) -> bool:
        return self.row.is_revoked()

    def get_client(self) -> Client | None:
        return get_session().get(Client, self.row.client_id)

    def get_user(self) -> User | None:
        return get_session().get(User, self.row.user_id) if self.row.user_id else None


class BearerTokenValidator(_BearerTokenValidator):  # type: ignore[misc]
    def authenticate_token(self, token_string: str) -> _TokenView | None:
        row = tokens.find_access_token(get_session(), current_realm().id, token_string)
        return _TokenView(FoundToken(row, is_refresh=False)) if row is not None else None


class UserInfoEndpoint(_UserInfoEndpoint):  # type: ignore[misc]
    def get_issuer(self) -> str:
        return issuer_for(current_realm())

    def generate_user_info(self, user: User | None, scope: str) -> Any:
        if user is None or user.disabled:
            raise InvalidTokenError()
        return user_claims(user, scope)

    def resolve_private_key(self) -> Any:
        return realm_keys(get_session(), current_realm().id).active_private


def _query_token(token_string: str, hint: str | None) -> _TokenView | None:
    found = tokens.find_any_token(get_session(), current_realm().id, token_string, hint)
    return _TokenView(found) if found is not None else None


class RevocationEndpoint(_RevocationEndpoint):  # type: ignore[misc]
    """RFC 7009. Revoking a refresh token revokes its whole family (every token rotated
    from the same authorization); revoking an access token revokes that token's row. Only
    the token's own client may revoke it (Authlib checks ``check_client``)."""

    CLIENT_AUTH_METHODS = [*CLIENT_AUTH_METHODS, "none"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        return _query_token(token_string, token_type_hint)

    def revoke_token(self, token: _TokenView, request: OAuth2Request) -> None:
        db = get_session()
        tokens.revoke_token(db, token.found)
        db.commit()


def may_introspect(client: Client, token_client_id: int) -> bool:
    """RFC 7662 section 4: a confidential client of the realm learns about its own tokens;
    a client registered as a resource server (``idp client set --resource-server``) about
    every token of the realm. Anyone else is told ``{"active": false}``."""
    if client.public or client.realm_id != current_realm().id:
        return False
    return client.id == token_client_id or bool(client.resource_server)


class IntrospectionEndpoint(_IntrospectionEndpoint):  # type: ignore[misc]
    """RFC 7662. Answers carry ``acr`` and ``auth_time`` (SPEC T4, RFC 9470)."""

    CLIENT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        # A read only: one SELECT without BEGIN and ROLLBACK around it.
        begin_autocommit(get_session())
        return _query_token(token_string, token_type_hint)

    def check_permission(self, token: _TokenView, client: Client, request: OAuth2Request) -> bool:
        allowed = may_introspect(client, token.row.client_id)
        if allowed and client.id == token.row.client_id:
            token.client = client  # the answer names it: no need to load it again
        return allowed

    def introspect_token(self, token: _TokenView) -> dict[str, Any]:
        row: Token = token.row
        db = get_session()
        client = token.client or db.get(Client, row.client_id)
        user = db.get(User, row.user_id) if row.user_id else None
        expires = row.refresh_expires_at if token.is_refresh else row.access_expires_at
        data: dict[str, Any] = {
            "active": True,
            "iss": issuer_for(current_realm()),
            "client_id": client.client_id if client else None,
            "token_type": "refresh_token" if token.is_refresh else "Bearer",
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


class EndSessionEndpoint(_EndSessionEndpoint):  # type: ignore[misc]
    """RP-Initiated Logout 1.0. The view ends the browser's SSO session itself."""

    def get_server_jwks(self) -> Any:
        return public_key_set(get_session(), current_realm().id)

    def is_post_logout_redirect_uri_legitimate(
        self, request: Any, post_logout_redirect_uri: str, client: Any, logout_hint: Any
    ) -> bool:
        # Without an id_token_hint the view first asks the user to confirm (a POST with a
        # CSRF token); the URI still has to match one registered for the client exactly.
        return bool(request.method == "POST")

    def _validate_id_token_hint(self, id_token_hint: str) -> dict[str, Any]:
        """Authlib's check (this realm's signature), and that the token is an ID token: an
        access token of the same user (RFC 9068, ``typ: at+jwt``) is refused like a hint
        that is not ours (the view's "not a valid ID token" page)."""
        claims: dict[str, Any] = super()._validate_id_token_hint(id_token_hint)
        if not is_id_token(compact_header(id_token_hint), claims):
            raise InvalidRequestError("The 'id_token_hint' is not an ID token.") from (
                NotTheRightToken("not an ID token")
            )
        return claims

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
