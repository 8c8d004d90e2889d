"""Realms (tenants) and their sign-in policy (SPEC section 6)."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import utcnow
from ..models import Realm
from .audit import record_event
from .errors import AlreadyExists, InvalidInput, NotFound
from .trusted_browsers import void_realm_trusts

REALM_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
DEFAULT_REALM = "main"
DISPLAY_NAME_MAX = 200  # the column's length

#: Who must have a second factor (SPEC P1), from fewest to most users covered.
REQUIRE_2FA_VALUES = ("none", "admins", "all")
#: Upper bound of the grace period (P2) and of "trust this browser" (P8), in days.
POLICY_DAYS_MAX = 365


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


def realm_policy(realm: Realm) -> dict[str, Any]:
    """The realm's name and sign-in policy as plain values (for the CLI and the pages)."""
    return {
        "name": realm.name,
        "display_name": realm.display_name,
        "require_2fa": realm.require_2fa,
        "require_2fa_since": realm.require_2fa_since,
        "grace_days": realm.grace_days,
        "trust_browser_days": realm.trust_browser_days,
    }


def _days(value: int | str, what: str) -> int:
    """A whole number of days in 0..POLICY_DAYS_MAX; a string of ASCII digits (a form field)
    is read as a number, anything else is refused."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 6:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= POLICY_DAYS_MAX:
        raise InvalidInput(f"{what} must be a whole number of days from 0 to {POLICY_DAYS_MAX}.")
    return value


def set_realm_policy(
    db: Session,
    realm: Realm,
    *,
    require_2fa: str | None = None,
    grace_days: int | str | None = None,
    trust_browser_days: int | str | None = None,
    actor: str,
    client_address: str | None,
) -> dict[str, dict[str, Any]]:
    """Change the realm's sign-in policy: who must have 2FA (P1), the grace period (P2) and
    "trust this browser" (P8). ``None`` leaves a setting as it is. Every value is checked
    before anything changes (``InvalidInput``). When the requirement grows to cover more
    users (none -> admins -> all), ``require_2fa_since`` restarts the grace period; a
    narrowing leaves it. One ``admin.realm.policy_changed`` event records the old and new
    values; nothing changed, nothing audited. Returns ``{setting: {"old": .., "new": ..}}``
    for what changed. The caller commits."""
    wanted: dict[str, Any] = {}
    if require_2fa is not None:
        if require_2fa not in REQUIRE_2FA_VALUES:
            raise InvalidInput(
                "Two-factor authentication can be required of none, admins or all "
                f"users, not {str(require_2fa)[:40]!r}."
            )
        wanted["require_2fa"] = require_2fa
    if grace_days is not None:
        wanted["grace_days"] = _days(grace_days, "The grace period")
    if trust_browser_days is not None:
        wanted["trust_browser_days"] = _days(trust_browser_days, '"Trust this browser"')
    changes = {
        name: {"old": getattr(realm, name), "new": value}
        for name, value in wanted.items()
        if getattr(realm, name) != value
    }
    if not changes:
        return changes
    if "require_2fa" in changes:
        old, new = changes["require_2fa"]["old"], changes["require_2fa"]["new"]
        if _coverage(new) > _coverage(old):
            realm.require_2fa_since = utcnow()
    for name, change in changes.items():
        setattr(realm, name, change["new"])
    if "trust_browser_days" in changes and realm.trust_browser_days == 0:
        # Turning "trust this browser" off ends every trust; turning it on again later
        # revives none of them (SPEC P8).
        void_realm_trusts(db, realm)
    record_event(
        db,
        realm.id,
        "admin.realm.policy_changed",
        actor=actor,
        client_address=client_address,
        detail={
            "old": {name: change["old"] for name, change in changes.items()},
            "new": {name: change["new"] for name, change in changes.items()},
        },
    )
    return changes


def _coverage(require_2fa: str) -> int:
    """How many users a requirement covers, as a rank (an unknown stored value covers none)."""
    return REQUIRE_2FA_VALUES.index(require_2fa) if require_2fa in REQUIRE_2FA_VALUES else 0


def set_realm_display_name(
    db: Session, realm: Realm, display_name: str, *, actor: str, client_address: str | None
) -> bool:
    """Rename the realm as pages and authenticator apps show it; audited as
    ``admin.realm.renamed`` when it changes. Returns whether it changed. The caller commits."""
    display_name = display_name.strip()
    if not display_name or len(display_name) > DISPLAY_NAME_MAX:
        raise InvalidInput(f"The display name must be 1 to {DISPLAY_NAME_MAX} characters.")
    if display_name == realm.display_name:
        return False
    record_event(
        db,
        realm.id,
        "admin.realm.renamed",
        actor=actor,
        client_address=client_address,
        detail={"old": {"display_name": realm.display_name}, "new": {"display_name": display_name}},
    )
    realm.display_name = display_name
    return True
