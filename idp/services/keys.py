"""Token-signing keys per realm, stored in the database with the private part encrypted.

``rotate_signing_key`` adds a new active key and keeps publishing the old one (status
``previous``) so tokens signed before the rotation still verify; ``retire_signing_keys``
stops publishing the previous ones.

Each process caches the JWKS and the decrypted active key for ``IDP_KEY_CACHE_SECONDS``; after
that it re-reads the key list (one small query) and decrypts only when the active key
changed, so a rotation made by another process (the CLI) is seen within seconds.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from joserfc.jwk import ECKey, KeySet, RSAKey
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..db import utcnow
from ..models import Realm, SigningKey
from .context import cipher, settings
from .crypto import random_token
from .errors import InvalidInput

PUBLISHED = ("active", "previous")


def _generate(alg: str) -> RSAKey | ECKey:
    kid = random_token(12)
    if alg == "RS256":
        return RSAKey.generate_key(2048, parameters={"kid": kid, "alg": alg, "use": "sig"})
    if alg == "ES256":
        return ECKey.generate_key("P-256", parameters={"kid": kid, "alg": alg, "use": "sig"})
    raise InvalidInput("alg must be RS256 or ES256")


def _add_key(db: Session, realm: Realm, alg: str) -> SigningKey:
    key = _generate(alg)
    row = SigningKey(
        realm_id=realm.id,
        kid=key.kid,
        alg=alg,
        status="active",
        public_jwk=key.as_dict(private=False),
        private_key_encrypted=cipher().encrypt(json.dumps(key.as_dict(private=True))),
    )
    db.add(row)
    db.flush()
    return row


def ensure_signing_key(db: Session, realm: Realm) -> SigningKey:
    row = db.scalar(
        select(SigningKey).where(SigningKey.realm_id == realm.id, SigningKey.status == "active")
    )
    return row or _add_key(db, realm, settings().signing_alg)


def rotate_signing_key(db: Session, realm: Realm, alg: str | None = None) -> SigningKey:
    db.execute(
        update(SigningKey)
        .where(SigningKey.realm_id == realm.id, SigningKey.status == "active")
        .values(status="previous")
    )
    return _add_key(db, realm, alg or settings().signing_alg)


def retire_signing_keys(db: Session, realm: Realm) -> int:
    result = db.execute(
        update(SigningKey)
        .where(SigningKey.realm_id == realm.id, SigningKey.status == "previous")
        .values(status="retired", retired_at=utcnow())
    )
    return result.rowcount or 0


def list_signing_keys(db: Session, realm: Realm) -> list[SigningKey]:
    return list(
        db.scalars(
            select(SigningKey).where(SigningKey.realm_id == realm.id).order_by(SigningKey.id)
        )
    )


@dataclass
class RealmKeys:
    checked_at: float
    signature: tuple[tuple[str, str], ...]
    jwks: dict[str, Any]
    active_kid: str
    active_alg: str
    active_private: KeySet
    algs: list[str]


_cache: dict[tuple[int, int], RealmKeys] = {}
_lock = threading.Lock()


def realm_keys(db: Session, realm_id: int) -> RealmKeys:
    """The realm's published JWKS and its active private key, cached per process."""
    cache_key = (id(settings()), realm_id)
    now = time.monotonic()
    cached = _cache.get(cache_key)
    if cached and now - cached.checked_at < settings().key_cache_seconds:
        return cached
    rows = db.execute(
        select(SigningKey.kid, SigningKey.status, SigningKey.alg, SigningKey.public_jwk)
        .where(SigningKey.realm_id == realm_id, SigningKey.status.in_(PUBLISHED))
        .order_by(SigningKey.id)
    ).all()
    signature = tuple((r.kid, r.status) for r in rows)
    with _lock:
        cached = _cache.get(cache_key)
        if cached and cached.signature == signature:
            cached.checked_at = now
            return cached
        active = [r for r in rows if r.status == "active"]
        if not active:
            raise RuntimeError(f"realm {realm_id} has no active signing key")
        active_kid = active[-1].kid
        if cached and cached.active_kid == active_kid:
            private = cached.active_private
        else:
            encrypted = db.scalar(
                select(SigningKey.private_key_encrypted).where(SigningKey.kid == active_kid)
            )
            private = KeySet.import_key_set({"keys": [_loads(cipher().decrypt(encrypted))]})
        entry = RealmKeys(
            checked_at=now,
            signature=signature,
            jwks={"keys": [dict(r.public_jwk) for r in rows]},
            active_kid=active_kid,
            active_alg=active[-1].alg,
            active_private=private,
            algs=sorted({r.alg for r in rows}),
        )
        _cache[cache_key] = entry
        return entry


def public_key_set(db: Session, realm_id: int) -> KeySet:
    return KeySet.import_key_set(realm_keys(db, realm_id).jwks)


def reencrypt_private_keys(db: Session) -> int:
    rows = db.scalars(select(SigningKey)).all()
    for row in rows:
        row.private_key_encrypted = cipher().rotate(row.private_key_encrypted)
    return len(rows)


def _loads(text: str) -> dict[str, Any]:
    return json.loads(text)
