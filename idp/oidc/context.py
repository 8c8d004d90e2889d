"""What every part of the protocol shares: the realm of the request and its issuer, the
client authentication methods and the response modes offered."""

from __future__ import annotations

from flask import g

from ..models import Realm
from ..services.context import realm_issuer

#: Client authentication at the token, revocation and introspection endpoints
#: (RFC 6749 2.3.1); public clients use ``none`` + PKCE where a grant allows it.
CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

#: How an authorization response may reach the client (OAuth 2.0 Multiple Response Types
#: and Form Post Response Mode); ``query`` is the default for ``code``.
RESPONSE_MODES = ("query", "fragment", "form_post")


def current_realm() -> Realm:
    """The realm of the request (``g.idp_realm``, set by the protocol blueprint from the
    URL): it scopes every client, code, token and key lookup."""
    realm: Realm = g.idp_realm
    return realm


def issuer_for(realm: Realm) -> str:
    return realm_issuer(realm)
