"""OpenID Connect Discovery 1.0 metadata (SPEC T2) and the JWKS (RFC 7517 section 5) of a
realm, served as bytes precomputed per key set.

Both documents change only with the realm's key set (and the issuer), so each process builds
them once per key set and answers from memory with an ``ETag`` and ``Cache-Control``; the
realm and its keys come from the process cache (``idp.cache``), which keeps serving them
while the database is unavailable.
"""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any

from flask import Response, g, request

from ..assurance import ACR_VALUES, AMR_VALUES
from ..db import get_session
from ..i18n import LANGUAGES
from ..services.keys import realm_keys
from .context import RESPONSE_MODES, issuer_for
from .endpoint_table import ENDPOINTS

#: How long relying parties and proxies may reuse either document without asking again.
CACHE_CONTROL = "public, max-age=60"

_documents: dict[tuple[str, tuple[str, ...]], tuple[bytes, str]] = {}
_documents_lock = threading.Lock()


def discovery_response() -> Response:
    """The realm's discovery document (``g.idp_realm``), from memory after the first time."""
    realm = g.idp_realm
    algs = tuple(realm_keys(get_session(), realm.id).algs)
    return _document_response(*discovery_bytes(issuer_for(realm), algs))


def discovery_bytes(issuer: str, algs: tuple[str, ...]) -> tuple[bytes, str]:
    """The serialised discovery document of ``issuer`` and its ETag, built once per key
    set's algorithms."""
    found = _documents.get((issuer, algs))
    if found is None:
        body = json.dumps(discovery_document(issuer, list(algs)), separators=(",", ":")).encode()
        found = (body, hashlib.sha256(body).hexdigest()[:32])
        with _documents_lock:
            if len(_documents) > 10_000:
                _documents.clear()
            _documents[(issuer, algs)] = found
    return found


def built_discovery_bytes(issuer: str, algs: tuple[str, ...]) -> tuple[bytes, str] | None:
    """``discovery_bytes`` when already built, else None (never builds)."""
    return _documents.get((issuer, algs))


def jwks_response() -> Response:
    """The realm's published keys (``g.idp_realm``), serialised once per key set."""
    keys = realm_keys(get_session(), g.idp_realm.id)
    return _document_response(keys.jwks_body, keys.jwks_etag)


def _document_response(body: bytes, etag: str) -> Response:
    """CORS is the endpoint table's (any origin), added by the protocol blueprint."""
    resp = Response(body, mimetype="application/json")
    resp.set_etag(etag)
    resp.headers["Cache-Control"] = CACHE_CONTROL
    resp.make_conditional(request)  # in place: 304 on a matching If-None-Match
    return resp


def endpoint_urls(issuer: str) -> dict[str, str]:
    """Each endpoint's metadata name and URL (Discovery 1.0 section 3), from the endpoint
    table, in its order."""
    return {e.discovery_key: f"{issuer}{e.path}" for e in ENDPOINTS if e.discovery_key}


def discovery_document(issuer: str, algs: list[str]) -> dict[str, Any]:
    auth_methods = ["client_secret_basic", "client_secret_post"]
    return {
        "issuer": issuer,
        **endpoint_urls(issuer),
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
        "acr_values_supported": list(ACR_VALUES),
        # Not part of Discovery 1.0; lists the RFC 8176 values this provider emits, including
        # "backup_code" for a sign-in with a single-use backup code.
        "amr_values_supported": list(AMR_VALUES),
        "prompt_values_supported": ["none", "login"],
        "display_values_supported": ["page"],
        "ui_locales_supported": list(LANGUAGES),
        # Single sign-out (idp.services.logout): Front-Channel and Back-Channel Logout 1.0,
        # with the session (``iss`` and ``sid``; ``sid`` in every logout token).
        "frontchannel_logout_supported": True,
        "frontchannel_logout_session_supported": True,
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
    }
