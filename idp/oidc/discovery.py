"""OpenID Connect Discovery 1.0 metadata for a realm (SPEC T2)."""

from __future__ import annotations

from typing import Any

from flask import g

from ..db import get_session
from ..i18n import LANGUAGES
from ..services.keys import realm_keys
from .claims import ACR_VALUES, AMR_VALUES
from .context import RESPONSE_MODES, issuer_for


def discovery_document() -> dict[str, Any]:
    realm = g.idp_realm
    issuer = issuer_for(realm)
    base = f"{issuer}/protocol/openid-connect"
    algs = realm_keys(get_session(), realm.id).algs
    auth_methods = ["client_secret_basic", "client_secret_post"]
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{base}/auth",
        "token_endpoint": f"{base}/token",
        "userinfo_endpoint": f"{base}/userinfo",
        "jwks_uri": f"{base}/certs",
        "end_session_endpoint": f"{base}/logout",
        "revocation_endpoint": f"{base}/revoke",
        "introspection_endpoint": f"{base}/token/introspect",
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "response_types_supported": ["code"],
        "response_modes_supported": list(RESPONSE_MODES),
        "authorization_response_iss_parameter_supported": True,
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs,
        "token_endpoint_auth_methods_supported": [*auth_methods, "none"],
        "revocation_endpoint_auth_methods_supported": [*auth_methods, "none"],
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": [
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "sid",
            "amr",
            "acr",
            "at_hash",
            "name",
            "preferred_username",
            "email",
            "email_verified",
        ],
        "claim_types_supported": ["normal"],
        "claims_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "acr_values_supported": ACR_VALUES,
        # Not part of Discovery 1.0; lists the RFC 8176 values this provider emits, including
        # "backup_code" for a sign-in with a single-use backup code.
        "amr_values_supported": AMR_VALUES,
        "prompt_values_supported": ["none", "login"],
        "display_values_supported": ["page"],
        "ui_locales_supported": list(LANGUAGES),
        "frontchannel_logout_supported": False,
        "backchannel_logout_supported": False,
    }
