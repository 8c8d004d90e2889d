from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Realm
from .errors import AlreadyExists, InvalidInput, NotFound

REALM_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
DEFAULT_REALM = "main"


def create_realm(db: Session, name: str, display_name: str | None = None) -> Realm:
    if not REALM_NAME.match(name):
        raise InvalidInput("realm names are lowercase letters, digits and dashes")
    if db.scalar(select(Realm).where(Realm.name == name)):
        raise AlreadyExists(f"realm {name!r} exists")
    realm = Realm(name=name, display_name=display_name or name)
    db.add(realm)
    db.flush()
    from .keys import ensure_signing_key

    ensure_signing_key(db, realm)
    return realm


def find_realm(db: Session, name: str) -> Realm | None:
    if not isinstance(name, str) or not REALM_NAME.match(name):
        return None
    return db.scalar(select(Realm).where(Realm.name == name))


def get_realm(db: Session, name: str) -> Realm:
    realm = find_realm(db, name)
    if realm is None:
        raise NotFound(f"no realm {name!r}")
    return realm


def list_realms(db: Session) -> list[Realm]:
    return list(db.scalars(select(Realm).order_by(Realm.name)))
