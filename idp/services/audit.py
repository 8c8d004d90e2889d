"""The realm's audit log (SPEC A4): recording events, the registry of event types, and
reading the log back (filters, each event's detail as safe key/values).

Every event type passed to :func:`record_event` is listed in :data:`EVENT_TYPES` with a
label for people (``tests/test_console_pages.py`` reads ``idp/`` and fails on one that is
missing). Labels are marked with :func:`N_` (event labels with :func:`NC_`, in the message
context :data:`LABEL_CONTEXT`) for the message catalog and translated by the web layer:
services do not know the reader's language."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import AuditEvent, User


def N_(message: str) -> str:  # gettext's conventional name for a marker
    """Mark ``message`` for the catalog without translating it (``pybabel extract`` knows
    ``N_``); the web layer passes it to ``gettext`` when it renders the page."""
    return message


#: The message context of the event labels: a label reads as an event ("Signed in": the
#: sign-in succeeded), where the same English words elsewhere are a column or a page title.
LABEL_CONTEXT = "audit"


def NC_(context: str, message: str) -> str:  # N_ with a context
    """Mark ``message`` for the catalog under ``context`` (``make messages`` extracts
    ``NC_`` like ``pgettext``); the web layer renders it with ``pgettext(context, ...)``."""
    return message


@dataclass(frozen=True)
class EventType:
    type: str
    label: str
    group: str


#: The groups of the audit log's type filter, by the type's first segment.
GROUPS: dict[str, str] = {
    "login": N_("Sign-in"),
    "mfa": N_("Two-factor authentication"),
    "account": N_("Account"),
    "session": N_("Sessions"),
    "admin": N_("Administration"),
}

#: Every event type the provider records, in the order the filter lists them.
EVENT_TYPES: tuple[EventType, ...] = tuple(
    EventType(type_, label, type_.split(".", 1)[0])
    for type_, label in (
        ("login.succeeded", NC_("audit", "Signed in")),
        ("login.password.failed", NC_("audit", "Password sign-in failed")),
        ("login.second_factor.failed", NC_("audit", "Second-factor sign-in failed")),
        ("login.throttled", NC_("audit", "Sign-in refused: too many attempts")),
        (
            "login.second_factor.locked",
            NC_("audit", "Second-factor sign-in paused after wrong codes"),
        ),
        ("mfa.totp.enabled", NC_("audit", "Two-factor authentication enabled")),
        ("mfa.disabled", NC_("audit", "Two-factor authentication disabled by the user")),
        ("mfa.backup_codes.issued", NC_("audit", "Backup codes issued")),
        ("mfa.backup_code.used", NC_("audit", "Backup code used")),
        ("mfa.browser.trusted", NC_("audit", "Browser trusted")),
        ("mfa.browser.revoked", NC_("audit", "Trusted browser removed")),
        ("mfa.webauthn.added", NC_("audit", "Security key added")),
        ("mfa.webauthn.renamed", NC_("audit", "Security key renamed")),
        ("mfa.webauthn.removed", NC_("audit", "Security key removed")),
        ("mfa.webauthn.counter_regressed", NC_("audit", "Security key refused: possibly cloned")),
        ("account.password.changed", NC_("audit", "Password changed")),
        ("account.password.reset_requested", NC_("audit", "Password reset link requested")),
        ("account.password.reset_by_link", NC_("audit", "Password reset by email link")),
        ("account.email.verification_sent", NC_("audit", "Email address verification link sent")),
        ("account.email.verified", NC_("audit", "Email address verified by its link")),
        ("account.invitation.accepted", NC_("audit", "Invitation accepted")),
        ("session.signed_out", NC_("audit", "Signed out of a session")),
        ("session.signed_out_all", NC_("audit", "Signed out everywhere")),
        ("session.signed_out_by_client", NC_("audit", "Signed out through an application")),
        ("session.ended_by_admin", NC_("audit", "Sessions ended by an admin")),
        ("admin.mfa.reset", NC_("audit", "Two-factor authentication disabled by an admin")),
        ("admin.user.disabled", NC_("audit", "Account disabled")),
        ("admin.user.enabled", NC_("audit", "Account enabled")),
        ("admin.user.password_reset", NC_("audit", "Password reset by an admin")),
        ("admin.user.email_verified", NC_("audit", "Email address marked verified")),
        ("admin.user.email_unverified", NC_("audit", "Email address marked not verified")),
        ("admin.user.email_changed", NC_("audit", "Email address changed")),
        ("admin.user.invited", NC_("audit", "User invited")),
        ("admin.user.invitation_resent", NC_("audit", "Invitation resent")),
        ("admin.user.invitation_revoked", NC_("audit", "Invitation revoked")),
        ("admin.realm.policy_changed", NC_("audit", "Realm policy changed")),
        ("admin.realm.renamed", NC_("audit", "Realm renamed")),
        ("admin.realm.branding_changed", NC_("audit", "Realm branding changed")),
        ("admin.client.policy_changed", NC_("audit", "Client policy changed")),
    )
)
EVENT_LABELS: dict[str, str] = {e.type: e.label for e in EVENT_TYPES}

#: Labels of the detail keys the provider records (others show as they are).
DETAIL_LABELS: dict[str, str] = {
    "amr": N_("Methods"),
    "browser": N_("Browser"),
    "client_id": N_("Client"),
    "days": N_("Days"),
    "failures_in_row": N_("Failures in a row"),
    "method": N_("Method"),
    "reason": N_("Reason"),
    "sessions": N_("Sessions ended"),
    "replaced": N_("Replaced a key"),
    "retry_after": N_("Retry after (seconds)"),
    "stage": N_("Stage"),
    "step_up": N_("Step-up"),
    "unused_left": N_("Unused codes left"),
    "was_enabled": N_("Was enabled"),
    "display_name": N_("Display name"),
    "require_2fa": N_("Require two-factor authentication"),
    "grace_days": N_("Grace period (days)"),
    "trust_browser_days": N_("Trust a browser for (days)"),
    "passkey_sign_in": N_("Sign in with a passkey"),
    "accent_color": N_("Accent colour"),
    "logo": N_("Logo"),
    "default_locale": N_("Default language"),
    "password": N_("Password"),
    "admin": N_("Admin"),
    "previous_email": N_("Previous email address"),
    "email_verified": N_("Email address verified"),
    "key_name": N_("Security key"),
    "old_name": N_("Previous name"),
    "first_factor": N_("Turned two-factor authentication on"),
    "last_factor": N_("Turned two-factor authentication off"),
    "stored_count": N_("Signature counter known"),
    "received_count": N_("Signature counter received"),
    "backchannel_logout_uri": N_("Back-channel logout URI"),
    "backchannel_logout_session_required": N_("Back-channel logout needs the session (sid)"),
    "frontchannel_logout_uri": N_("Front-channel logout URI"),
    "frontchannel_logout_session_required": N_("Front-channel logout needs iss and sid"),
}
#: Labels of a setting's values where the value is a code (``none``, ``all``) or a switch:
#: the words the settings page shows for it. ``default_locale`` shows the language's name.
SETTING_VALUE_LABELS: dict[str, dict[Any, str]] = {
    "require_2fa": {"none": N_("Nobody"), "admins": N_("Admins"), "all": N_("Everyone")},
    "passkey_sign_in": {True: N_("Allowed"), False: N_("Turned off")},
}
#: Labels of the detail values that are codes rather than words.
VALUE_LABELS: dict[str, str] = {
    "unknown_user": N_("unknown account"),
    "wrong_password": N_("wrong password"),
    "account_disabled": N_("account disabled"),
    # Why an admin or the operator ended a user's sessions (``sessions.AdminReason``).
    "password_reset": N_("password reset"),
    "mfa_reset": N_("two-factor authentication reset"),
    "session": N_("one session signed out"),
    "signed_out": N_("signed out of every session"),
    "invitation_pending": N_("invitation not accepted yet"),
    "address_changed": N_("the address changed since the link was sent"),
    "InvalidCode": N_("wrong code"),
    "CodeReplayed": N_("code already used"),
    "totp": N_("authenticator app"),
    "backup_code": N_("backup code"),
    "password": N_("password"),
    "second_factor": N_("second factor"),
    "webauthn": N_("security key"),
    "passkey": N_("passkey"),
    # The amr values of a sign-in (RFC 8176), in its "Methods" detail.
    "pwd": N_("password"),
    "otp": N_("authenticator app"),
    "hwk": N_("security key"),
    "user": N_("user verification"),
    "mfa": N_("second factor"),
    "trusted_browser": N_("trusted browser"),
    "SecurityKeyRefused": N_("security key response not valid"),
    "ChallengeNotValid": N_("challenge used, expired or not issued here"),
    "UnknownCredential": N_("not one of the account's keys"),
    "SignCountRegressed": N_("signature counter went backwards (possibly cloned key)"),
}
#: Keys whose values are never shown, wherever they appear in a detail.
_SECRET_KEY = re.compile(r"pass(word)?|secret|token|otp|(^|_)(code|key|hash)s?$", re.I)
_LONGEST_VALUE = 120
HIDDEN = object()


def actor_for(user: User | None, *, admin: bool = False) -> str:
    if user is None:
        return "anonymous"
    return f"{'admin' if admin else 'user'}:{user.email}"


OPERATOR = "operator"


def record_event(
    db: Session,
    realm_id: int,
    type: str,
    *,
    actor: str,
    subject: User | None = None,
    client_address: str | None = None,
    outcome: str = "success",
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    event = AuditEvent(
        realm_id=realm_id,
        type=type,
        actor=actor,
        subject_user_id=subject.id if subject else None,
        subject=subject.email if subject else "",
        client_address=client_address,
        outcome=outcome,
        detail=detail or {},
    )
    db.add(event)
    return event


def matching_types(value: str) -> list[str]:
    """The known event types a type filter selects: the one it names, or every type it is
    the beginning of (``mfa.`` for the two-factor events); empty when none matches."""
    if value in EVENT_LABELS:
        return [value]
    return [e.type for e in EVENT_TYPES if e.type.startswith(value)] if value else []


def list_events(
    db: Session,
    realm_id: int,
    *,
    subject: str | None = None,
    types: Sequence[str] | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[AuditEvent], int]:
    """A page of the realm's events, newest first, and how many match: ``subject``
    narrows to subjects containing it (any case), ``types`` to those types (None: all)."""
    query = select(AuditEvent).where(AuditEvent.realm_id == realm_id)
    if subject:
        query = query.where(
            func.lower(AuditEvent.subject).contains(subject.lower(), autoescape=True)
        )
    if types is not None:
        query = query.where(AuditEvent.type.in_(list(types)))
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.scalars(
        query.order_by(AuditEvent.id.desc()).offset((page - 1) * per_page).limit(per_page)
    ).all()
    return list(rows), total


@dataclass(frozen=True)
class DetailItem:
    """One line of an event's detail: ``key`` with its ``value``, or, for a change, its
    ``old`` and new ``value``. A secret's value is :data:`HIDDEN`."""

    key: str
    value: Any
    old: Any = None
    changed: bool = False


def detail_items(detail: dict[str, Any] | None) -> list[DetailItem]:
    """An event's detail as flat key/values for people to read: ``{"old": {...}, "new":
    {...}}`` becomes one change per key, nested values are flattened, long values shortened,
    and the value of any key that names a secret (password, token, code...) is hidden."""
    detail = dict(detail or {})
    items: list[DetailItem] = []
    old, new = detail.pop("old", None), detail.pop("new", None)
    for key, value in detail.items():
        items.append(DetailItem(str(key), _safe(key, value)))
    if isinstance(old, dict) or isinstance(new, dict):
        old, new = old if isinstance(old, dict) else {}, new if isinstance(new, dict) else {}
        for key in [*old, *(k for k in new if k not in old)]:
            items.append(
                DetailItem(str(key), _safe(key, new.get(key)), _safe(key, old.get(key)), True)
            )
    else:
        items += [DetailItem(k, _safe(k, v)) for k, v in (("old", old), ("new", new)) if v]
    return items


def _safe(key: Any, value: Any) -> Any:
    if _SECRET_KEY.search(str(key)):
        return HIDDEN
    if isinstance(value, dict):
        return ", ".join(f"{k}={_plain(_safe(k, v))}" for k, v in value.items())[:_LONGEST_VALUE]
    if isinstance(value, list | tuple):
        return [_safe(key, v) for v in value][:20]
    if isinstance(value, str) and len(value) > _LONGEST_VALUE:
        return value[: _LONGEST_VALUE - 1] + "…"
    return value


def _plain(value: Any) -> str:
    return "•••" if value is HIDDEN else str(value)
