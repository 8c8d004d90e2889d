"""Token-signing keys per realm, stored in the database with the private part encrypted.

``rotate_signing_key`` adds a new active key and keeps publishing the old one (status
``previous``) so tokens signed before the rotation still verify; ``retire_signing_keys``
stops publishing the previous ones.

Each process caches the JWKS (serialised, with its ETag) and the decrypted active key for
``IDP_KEY_CACHE_SECONDS`` (``idp.cache``); after that it re-reads the key list (one small
query) and decrypts only when the active key changed, so a rotation made by another process
(the CLI) is seen within seconds, and keeps using the last known keys while the database is
unavailable.

``reencrypt_data`` re-encrypts everything kept under the data keys (``idp keys
rotate-data-key``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from joserfc.jwk import ECKey, KeySet, RSAKey
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..cache import process_cache
from ..db import affected_rows, rollback_quietly, utcnow
from ..models import Authenticator, OutboxMessage, Realm, SigningKey
from .context import cipher, settings
from .crypto import random_token
from .errors import InvalidInput

if TYPE_CHECKING:
    from joserfc._keys import KeySetSerialization

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
    return affected_rows(
        db,
        update(SigningKey)
        .where(SigningKey.realm_id == realm.id, SigningKey.status == "previous")
        .values(status="retired", retired_at=utcnow()),
    )


def list_signing_keys(db: Session, realm: Realm) -> list[SigningKey]:
    return list(
        db.scalars(
            select(SigningKey).where(SigningKey.realm_id == realm.id).order_by(SigningKey.id)
        )
    )


@dataclass
class RealmKeys:
    """A realm's published keys and its active private key, as cached by one process, with
    the JWKS document already serialised (bytes and ETag) for the ``certs`` endpoint."""

    signature: tuple[tuple[str, str], ...]
    jwks: dict[str, Any]
    jwks_body: bytes
    jwks_etag: str
    active_kid: str
    active_alg: str
    active_private: KeySet
    algs: list[str]


def realm_keys(db: Session, realm_id: int) -> RealmKeys:
    """The realm's published JWKS and its active private key, cached per process
    (``idp.cache``): after ``IDP_KEY_CACHE_SECONDS`` the key list is read again (one small
    query) and the private key decrypted again only when the active key changed, so a
    rotation made by another process (the CLI) is seen within seconds. While the database
    is unavailable the last known keys are used."""

    def fetch() -> tuple[Any, Any]:
        rows = db.execute(
            select(SigningKey.kid, SigningKey.status, SigningKey.alg, SigningKey.public_jwk)
            .where(SigningKey.realm_id == realm_id, SigningKey.status.in_(PUBLISHED))
            .order_by(SigningKey.id)
        ).all()
        return tuple((r.kid, r.status) for r in rows), rows

    def build(rows: Any, previous: RealmKeys | None) -> RealmKeys:
        active = [r for r in rows if r.status == "active"]
        if not active:
            raise RuntimeError(f"realm {realm_id} has no active signing key")
        active_kid = active[-1].kid
        if previous is not None and previous.active_kid == active_kid:
            private = previous.active_private
        else:
            encrypted = db.scalar(
                select(SigningKey.private_key_encrypted).where(SigningKey.kid == active_kid)
            )
            if encrypted is None:
                raise RuntimeError(f"signing key {active_kid} has no private key")
            private = KeySet.import_key_set({"keys": [_loads(cipher().decrypt(encrypted))]})
        jwks = {"keys": [dict(r.public_jwk) for r in rows]}
        body = json.dumps(jwks, separators=(",", ":")).encode()
        return RealmKeys(
            signature=tuple((r.kid, r.status) for r in rows),
            jwks=jwks,
            jwks_body=body,
            jwks_etag=hashlib.sha256(body).hexdigest()[:32],
            active_kid=active_kid,
            active_alg=active[-1].alg,
            active_private=private,
            algs=sorted({r.alg for r in rows}),
        )

    keys: RealmKeys | None = process_cache("signing_keys").get(
        realm_id, fetch, build, on_unavailable=lambda: rollback_quietly(db)
    )
    if keys is None:  # no published key at all
        raise RuntimeError(f"realm {realm_id} has no active signing key")
    return keys


def public_key_set(db: Session, realm_id: int) -> KeySet:
    return KeySet.import_key_set(cast("KeySetSerialization", realm_keys(db, realm_id).jwks))


def reencrypt_private_keys(db: Session) -> int:
    rows = db.scalars(select(SigningKey)).all()
    for row in rows:
        row.private_key_encrypted = cipher().rotate(row.private_key_encrypted)
    return len(rows)


def reencrypt_data(db: Session) -> int:
    """Re-encrypt every value stored under the data keys with the first key (``idp keys
    rotate-data-key``): private signing keys, TOTP keys, and the parameters of mail not sent
    yet (a queued link's token), so that dropping the old key loses nothing. Returns how
    many values; the caller commits."""
    count = reencrypt_private_keys(db)
    for row in db.scalars(select(Authenticator).where(Authenticator.secret_encrypted.isnot(None))):
        row.secret_encrypted = cipher().rotate(row.secret_encrypted or "")
        count += 1
    # A sent message keeps no payload; a failed one keeps it (an operator may retry it).
    for message in db.scalars(select(OutboxMessage).where(OutboxMessage.payload.isnot(None))):
        message.payload = cipher().rotate(message.payload or "")
        count += 1
    return count


def _loads(text: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(text)
    return value
