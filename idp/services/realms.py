"""Realms (tenants) and their sign-in policy (SPEC section 6)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..cache import process_cache
from ..db import rollback_quietly, utcnow
from ..models import Realm
from .audit import record_event
from .brand_checks import check_accent_color, check_logo
from .errors import N_, AlreadyExists, InvalidInput
from .names import unsafe_character
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
    if display_name:
        display_name = _checked_display_name(display_name)
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


@dataclass(frozen=True)
class RealmSnapshot:
    """A realm's row as plain read-only values, without the logo's bytes: what the protocol
    endpoints (discovery, JWKS, token, userinfo, introspection, revocation) and the
    "temporarily unavailable" page read, from the process cache. Pages that change a realm
    load the row itself (``find_realm``)."""

    id: int
    name: str
    display_name: str
    created_at: datetime
    require_2fa: str
    require_2fa_since: datetime | None
    grace_days: int
    trust_browser_days: int
    default_locale: str
    accent_color: str | None
    logo_content_type: str | None


_SNAPSHOT_COLUMNS = tuple(getattr(Realm, name) for name in RealmSnapshot.__dataclass_fields__)


def cached_realm(db: Session, name: str) -> RealmSnapshot | None:
    """The realm called ``name`` from the process cache (``idp.cache``): re-read at most every
    ``IDP_KEY_CACHE_SECONDS``, and served as last known while the database is unavailable.
    None when there is no such realm (unknown names are not cached)."""
    if not isinstance(name, str) or not REALM_NAME.match(name):
        return None

    def fetch() -> tuple[Any, Any]:
        row = db.execute(select(*_SNAPSHOT_COLUMNS).where(Realm.name == name)).one_or_none()
        return (tuple(row) if row is not None else None), row

    def build(row: Any, _previous: RealmSnapshot | None) -> RealmSnapshot:
        return RealmSnapshot(**row._asdict())

    cache = process_cache("realms")
    return cache.get(name, fetch, build, on_unavailable=lambda: rollback_quietly(db))


def peek_realm(name: str) -> RealmSnapshot | None:
    """The realm called ``name`` as last cached by this process, without any query (for the
    page that says the database is unavailable)."""
    return process_cache("realms").peek(name) if isinstance(name, str) else None


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
        "passkey_sign_in": realm.passkey_sign_in,
    }


class InvalidRequirement(InvalidInput):
    """``require_2fa`` is not one of ``REQUIRE_2FA_VALUES``."""

    def __init__(self, value: str) -> None:
        super().__init__(
            "Two-factor authentication can be required of none, admins or all "
            f"users, not {value!r}."
        )
        self.value = value


class InvalidDays(InvalidInput):
    """A number of days of the policy (``setting``: ``grace_days``, ``trust_browser_days``)
    that is not a whole number from 0 to ``POLICY_DAYS_MAX``."""

    NAMES = {"grace_days": "The grace period", "trust_browser_days": '"Trust this browser"'}

    def __init__(self, setting: str) -> None:
        super().__init__(
            f"{self.NAMES[setting]} must be a whole number of days from 0 to {POLICY_DAYS_MAX}."
        )
        self.setting = setting


def _days(value: int | str, setting: str) -> int:
    """A whole number of days in 0..POLICY_DAYS_MAX; a string of ASCII digits (a form field)
    is read as a number, anything else is refused (``InvalidDays``)."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 6:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= POLICY_DAYS_MAX:
        raise InvalidDays(setting)
    return value


class InvalidSwitch(InvalidInput):
    """An on/off setting (``setting``: ``passkey_sign_in``) that is neither."""

    def __init__(self, setting: str) -> None:
        super().__init__(f"{setting} must be on or off.")
        self.setting = setting


def _switch(value: bool | str, setting: str) -> bool:
    """On or off: a bool, or a form field's ``yes``/``no``; anything else is refused."""
    if isinstance(value, bool):
        return value
    if value in ("yes", "no"):
        return value == "yes"
    raise InvalidSwitch(setting)


def set_realm_policy(
    db: Session,
    realm: Realm,
    *,
    require_2fa: str | None = None,
    grace_days: int | str | None = None,
    trust_browser_days: int | str | None = None,
    passkey_sign_in: bool | str | None = None,
    actor: str,
    client_address: str | None,
) -> dict[str, dict[str, Any]]:
    """Change the realm's sign-in policy: who must have 2FA (P1), the grace period (P2),
    "trust this browser" (P8) and "Sign in with a passkey" (issue 10). ``None`` leaves a
    setting as it is. Every value is checked before anything changes (``InvalidInput``).
    When the requirement grows to cover more users (none -> admins -> all),
    ``require_2fa_since`` restarts the grace period; a narrowing leaves it. One
    ``admin.realm.policy_changed`` event records the old and new values; nothing changed,
    nothing audited. Returns ``{setting: {"old": .., "new": ..}}`` for what changed. The
    caller commits."""
    wanted: dict[str, Any] = {}
    if require_2fa is not None:
        if require_2fa not in REQUIRE_2FA_VALUES:
            raise InvalidRequirement(str(require_2fa)[:40])
        wanted["require_2fa"] = require_2fa
    if grace_days is not None:
        wanted["grace_days"] = _days(grace_days, "grace_days")
    if trust_browser_days is not None:
        wanted["trust_browser_days"] = _days(trust_browser_days, "trust_browser_days")
    if passkey_sign_in is not None:
        wanted["passkey_sign_in"] = _switch(passkey_sign_in, "passkey_sign_in")
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
    _record_changes(db, realm, "admin.realm.policy_changed", changes, actor, client_address)
    return changes


def _record_changes(
    db: Session,
    realm: Realm,
    event_type: str,
    changes: dict[str, dict[str, Any]],
    actor: str,
    client_address: str | None,
) -> None:
    """One audit event with the old and the new value of each changed setting."""
    record_event(
        db,
        realm.id,
        event_type,
        actor=actor,
        client_address=client_address,
        detail={
            "old": {name: change["old"] for name, change in changes.items()},
            "new": {name: change["new"] for name, change in changes.items()},
        },
    )


def _coverage(require_2fa: str) -> int:
    """How many users a requirement covers, as a rank (an unknown stored value covers none)."""
    return REQUIRE_2FA_VALUES.index(require_2fa) if require_2fa in REQUIRE_2FA_VALUES else 0


# -- branding (issue 7: the realm's pages carry its brand) -------------------------------------
#: Languages a realm's pages can default to (SPEC section 8).
LOCALES = ("en", "ja")


class InvalidDisplayName(InvalidInput):
    def __init__(self) -> None:
        super().__init__(f"The display name must be 1 to {DISPLAY_NAME_MAX} characters.")
        self.max_length = DISPLAY_NAME_MAX


class DisplayNameControlCharacters(InvalidDisplayName):
    """A display name with a line break, tab or other control character (SPEC V5): it would
    reach mail subjects and page titles."""

    def __init__(self) -> None:
        InvalidInput.__init__(
            self,
            N_("The display name must not contain line breaks, tabs or other control characters."),
        )
        self.max_length = DISPLAY_NAME_MAX


def _checked_display_name(display_name: str) -> str:
    display_name = display_name.strip()
    if not display_name or len(display_name) > DISPLAY_NAME_MAX:
        raise InvalidDisplayName()
    if unsafe_character(display_name) is not None:
        raise DisplayNameControlCharacters()
    return display_name


class UnsupportedLocale(InvalidInput):
    def __init__(self, value: str) -> None:
        super().__init__(f"The default language must be one of {', '.join(LOCALES)}.")
        self.value = value


def realm_branding(realm: Realm) -> dict[str, Any]:
    """The realm's brand as plain values (the logo by its type only, never its bytes)."""
    return {
        "display_name": realm.display_name,
        "default_locale": realm.default_locale,
        "accent_color": realm.accent_color,
        "logo_content_type": realm.logo_content_type,
    }


def set_realm_branding(
    db: Session,
    realm: Realm,
    *,
    display_name: str | None = None,
    default_locale: str | None = None,
    accent_color: str | None = None,
    logo: bytes | None = None,
    logo_declared_type: str | None = None,
    remove_logo: bool = False,
    actor: str,
    client_address: str | None,
) -> dict[str, dict[str, Any]]:
    """Change how the realm's pages look: display name, default language, accent colour
    (``""`` clears it: the built-in blue) and logo (new bytes, or ``remove_logo``).
    ``None`` (an argument left out) keeps a value. Every value is checked before
    anything changes (the narrow ``InvalidInput`` subclasses above and in ``brand_checks``). One
    ``admin.realm.branding_changed`` event records the old and new values; the logo appears
    as its type and size, never its bytes. Returns ``{setting: {"old": .., "new": ..}}``.
    The caller commits."""
    wanted: dict[str, Any] = {}
    if display_name is not None:
        wanted["display_name"] = _checked_display_name(display_name)
    if default_locale is not None:
        if default_locale not in LOCALES:
            raise UnsupportedLocale(str(default_locale)[:20])
        wanted["default_locale"] = default_locale
    if accent_color is not None:
        wanted["accent_color"] = check_accent_color(accent_color) if accent_color.strip() else None
    if logo is not None and remove_logo:
        raise InvalidInput("Upload a logo or remove it, not both.")
    new_logo: tuple[bytes, str] | None = None
    if logo is not None:
        new_logo = (logo, check_logo(logo, logo_declared_type))
    changes = {
        name: {"old": getattr(realm, name), "new": value}
        for name, value in wanted.items()
        if getattr(realm, name) != value
    }
    had_logo = realm.logo_content_type is not None
    if (new_logo is not None and (not had_logo or realm.logo != new_logo[0])) or (
        remove_logo and had_logo
    ):
        changes["logo"] = {
            "old": _logo_summary(realm.logo, realm.logo_content_type) if had_logo else None,
            "new": _logo_summary(*new_logo) if new_logo else None,
        }
    if not changes:
        return changes
    for name, change in changes.items():
        if name != "logo":
            setattr(realm, name, change["new"])
    if "logo" in changes:
        realm.logo, realm.logo_content_type = new_logo if new_logo else (None, None)
    _record_changes(db, realm, "admin.realm.branding_changed", changes, actor, client_address)
    return changes


def _logo_summary(data: bytes | None, content_type: str | None) -> dict[str, Any]:
    """How the audit log names a logo: its type and size, never its bytes."""
    return {"content_type": content_type, "bytes": len(data or b"")}
