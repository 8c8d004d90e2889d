"""``id_token_hint`` at the authorization endpoint (OIDC Core 3.1.2.1).

The hint is one of our own ID tokens: its signature must verify with the realm's published
keys (an asymmetric algorithm we sign with; ``none`` and HMAC are refused, so a token "signed"
with our public key as an HMAC secret fails) and its issuer must be the realm's. An expired
hint is fine: it names a user, it grants nothing.
"""

from __future__ import annotations

from joserfc import jwt
from joserfc.errors import JoseError

from ..db import get_session
from ..models import Realm
from ..services.keys import public_key_set, realm_keys
from .context import issuer_for

MAX_HINT_LENGTH = 8000


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
    sub = claims.get("sub")
    return sub if isinstance(sub, str) else ""
