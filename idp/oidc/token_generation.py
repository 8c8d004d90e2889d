"""Access tokens: RFC 9068 JWTs signed with the realm's active key, and opaque refresh
tokens."""

from __future__ import annotations

import base64
import json
from typing import Any

from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator as _JWTBearerTokenGenerator

from ..db import get_session
from ..models import Client
from ..services.context import settings
from ..services.crypto import random_token
from ..services.keys import realm_keys
from .claims import Principal
from .context import current_realm, issuer_for


def jwt_claims(token: str) -> dict[str, Any]:
    """Claims of a JWT we just signed ourselves (no verification needed)."""
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


class JWTBearerTokenGenerator(_JWTBearerTokenGenerator):  # type: ignore[misc]
    """Issuer and signing key follow the realm of the request."""

    def __init__(self) -> None:
        super().__init__(
            issuer="",
            refresh_token_generator=self._refresh_token,
            expires_generator=self._expires_in,
        )

    @property
    def issuer(self) -> str:
        return issuer_for(current_realm())

    @issuer.setter
    def issuer(self, value: str) -> None:
        pass

    @property
    def alg(self) -> str:
        return realm_keys(get_session(), current_realm().id).active_alg

    @alg.setter
    def alg(self, value: str) -> None:
        pass

    def get_jti(self, client: Any, grant_type: str, user: Any, scope: str) -> str:
        """128 random bits from ``secrets`` in one call (Authlib's ``generate_token`` asks
        the OS for randomness once per character)."""
        return random_token(16)

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
