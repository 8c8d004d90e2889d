"""Trusted browsers (SPEC P8): "Trust this browser for N days" on the code page.

The browser keeps a random token in an HttpOnly cookie scoped to the realm's path; the row
keeps its SHA-256 digest, bound to the realm, the user and the second factor in force when
trust was given. A trust ends when its days run out, when the realm shortens or turns off
the setting, on any change of the user's second factors (the factor row it is bound to goes
away, or ``void_trusts`` is called), on a password change or an admin reset, and when the user
revokes it on the 2FA page.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..db import affected_rows, utcnow
from ..models import Authenticator, Realm, TrustedBrowser, User
from .audit import record_event
from .crypto import digest, random_token

COOKIE = "IDP_TRUST"


def _active_factor(db: Session, user: User) -> Authenticator | None:
    return db.scalar(
        select(Authenticator).where(
            Authenticator.user_id == user.id,
            Authenticator.type == "totp",
            Authenticator.status == "active",
        )
    )


def browser_label(user_agent: str | None) -> str:
    """A short, human description of a browser from its User-Agent."""
    ua = user_agent or ""
    browser = next(
        (name for key, name in _BROWSERS if key in ua),
        "A browser",
    )
    system = next((name for key, name in _SYSTEMS if key in ua), "")
    return f"{browser} on {system}" if system else browser


_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
    ("python-requests", "python-requests"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
)


def trust_browser(
    db: Session,
    realm: Realm,
    user: User,
    *,
    user_agent: str | None,
    client_address: str | None,
) -> tuple[TrustedBrowser, str] | None:
    """Give this browser trust for the realm's number of days; returns the row and the
    cookie value, or None when the realm has the setting off or the user has no factor."""
    factor = _active_factor(db, user)
    if realm.trust_browser_days <= 0 or factor is None:
        return None
    token = random_token(32)
    row = TrustedBrowser(
        realm_id=realm.id,
        user_id=user.id,
        authenticator_id=factor.id,
        token_digest=digest(token),
        label=browser_label(user_agent)[:200],
        expires_at=utcnow() + timedelta(days=realm.trust_browser_days),
    )
    db.add(row)
    db.flush()
    record_event(
        db,
        realm.id,
        "mfa.browser.trusted",
        actor=f"user:{user.email}",
        subject=user,
        client_address=client_address,
        detail={"days": realm.trust_browser_days, "browser": row.label},
    )
    return row, token


def find_trust(db: Session, realm: Realm, user: User, token: str | None) -> TrustedBrowser | None:
    """The trust this browser's cookie holds for this user, if it is still good."""
    if not token or not isinstance(token, str) or len(token) > 200:
        return None
    if realm.trust_browser_days <= 0:
        return None
    row = db.scalar(select(TrustedBrowser).where(TrustedBrowser.token_digest == digest(token)))
    if row is None or row.realm_id != realm.id or row.user_id != user.id:
        return None
    now = utcnow()
    factor = _active_factor(db, user)
    if factor is None or factor.id != row.authenticator_id:
        return None
    # Never longer than the realm allows now (the setting may have been shortened).
    if now >= min(row.expires_at, row.created_at + timedelta(days=realm.trust_browser_days)):
        return None
    return row


def use_trust(db: Session, row: TrustedBrowser) -> None:
    row.last_used_at = utcnow()


def list_trusts(db: Session, realm: Realm, user: User) -> list[TrustedBrowser]:
    """The user's trusts that still stand: not expired, and within what the realm allows now
    (a shortened or disabled setting ends them)."""
    if realm.trust_browser_days <= 0:
        return []
    now = utcnow()
    allowed = timedelta(days=realm.trust_browser_days)
    rows = db.scalars(
        select(TrustedBrowser)
        .where(TrustedBrowser.user_id == user.id, TrustedBrowser.expires_at > now)
        .order_by(TrustedBrowser.created_at.desc())
    )
    return [row for row in rows if row.created_at + allowed > now]


def revoke_trust(db: Session, user: User, trust_id: int, *, client_address: str | None) -> bool:
    row = db.get(TrustedBrowser, trust_id)
    if row is None or row.user_id != user.id:
        return False
    db.delete(row)
    record_event(
        db,
        user.realm_id,
        "mfa.browser.revoked",
        actor=f"user:{user.email}",
        subject=user,
        client_address=client_address,
        detail={"browser": row.label},
    )
    return True


def void_trusts(db: Session, user: User) -> int:
    """End every trust of the user (a 2FA change, a password change, an admin reset)."""
    return affected_rows(db, delete(TrustedBrowser).where(TrustedBrowser.user_id == user.id))


def void_realm_trusts(db: Session, realm: Realm) -> int:
    """End every trust in the realm (the setting was turned off)."""
    return affected_rows(db, delete(TrustedBrowser).where(TrustedBrowser.realm_id == realm.id))
