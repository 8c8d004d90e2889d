"""``id_token_hint`` at the authorization endpoint (OIDC Core 3.1.2.1) and what makes a
token an ID token for the end-session endpoint too (``is_id_token``).

The hint is one of our own ID tokens: its signature must verify with the realm's published
keys (an asymmetric algorithm we sign with; ``none`` and HMAC are refused, so a token "signed"
with our public key as an HMAC secret fails) and its issuer must be the realm's. An expired
hint is fine: it names a user, it grants nothing. It must be an ID token: the realm signs its
access tokens (RFC 9068) with the same keys, for the same ``sub`` and ``sid``, and a resource
server holding one must not pass it off as a hint (``is_id_token``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError

from ..db import get_session
from ..models import Realm
from ..services.keys import public_key_set, realm_keys
from .context import issuer_for

MAX_HINT_LENGTH = 8000

#: The ``typ`` header of this provider's ID tokens (``grants.OpenIDCode``); access tokens
#: carry ``at+jwt`` (RFC 9068 section 2.1).
ID_TOKEN_TYPES = frozenset({"jwt", "application/jwt"})
#: Claims of an access token (RFC 9068 section 2.2) that no ID token of this provider has.
ACCESS_TOKEN_CLAIMS = ("client_id", "scope")


def is_id_token(header: Mapping[str, Any], claims: Mapping[str, Any]) -> bool:
    """Whether a token whose signature verified is one of this provider's ID tokens, not an
    access token: ``typ`` ``JWT`` (or none), no ``client_id`` or ``scope`` claim, and an
    audience (the client it was issued to) and a subject."""
    typ = header.get("typ")
    if typ is not None and (not isinstance(typ, str) or typ.lower() not in ID_TOKEN_TYPES):
        return False
    if any(name in claims for name in ACCESS_TOKEN_CLAIMS):
        return False
    aud = claims.get("aud")
    if isinstance(aud, list):
        if not aud or not all(isinstance(a, str) for a in aud):
            return False
    elif not isinstance(aud, str):
        return False
    return isinstance(claims.get("sub"), str)


def compact_header(token: str) -> dict[str, Any]:
    """The protected header of a compact JWS (read after its signature verified)."""
    part = token.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except ValueError:
        return {}
    return header if isinstance(header, dict) else {}


def hinted_subject(realm: Realm, hint: object) -> str:
    """The ``sub`` of a genuine hint of this realm, or ``""`` when it is not ours."""
    if not isinstance(hint, str) or not hint or len(hint) > MAX_HINT_LENGTH:
        return ""
    db = get_session()
    algorithms = realm_keys(db, realm.id).algs
    try:
        token = jwt.decode(hint, public_key_set(db, realm.id), algorithms=algorithms)
    except (JoseError, ValueError, TypeError):
        return ""
    claims = token.claims
    if token.header.get("alg") not in algorithms or claims.get("iss") != issuer_for(realm):
        return ""
    if not is_id_token(token.header, claims):
        return ""
    sub = claims.get("sub")
    return sub if isinstance(sub, str) else ""
