"""The realm's admin console (SPEC A1, A2, A4): users with their 2FA state, a user's page
(disable 2FA, disable/enable the account, reset the password, vouch for the email address),
and the audit log.

The account actions are the services' (``services.accounts``, ``factors``), which the CLI
calls too; each needs a recent sign-in with every factor the admin has. The destructive ones
(disable 2FA, disable the account) ask for confirmation on a page of their own first. The
blueprint and what the console's view modules share are in ``admin_bp``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import abort, flash, g, redirect, request, url_for
from flask_babel import get_timezone, pgettext
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from .. import clock
from ..db import get_session
from ..formats import format_when, list_words, zone_name
from ..i18n import LANGUAGE_NAMES
from ..interaction.context import second_factor_required_by
from ..models import AuditEvent, User
from ..services import accounts, audit, factors, invitations
from ..services.errors import InvalidInput

# The blueprint's other view module: importing it puts its routes on ``bp``, so that
# registering ``admin.bp`` brings every console page (it imports ``admin_bp``, not this).
from . import admin_users  # noqa: F401
from .admin_bp import (
    USER_ID,
    actor,
    bp,
    page_number,
    recent_sign_in,
    render,
    subject_user,
    user_page,
)
from .common import client_address, require_recent_sign_in, single

EVENTS_PER_PAGE = 50


@bp.get("/")
def index(realm: str) -> Response:
    return redirect(url_for("admin.users_list", realm=realm))


@bp.get(f"/users/<{USER_ID}:user_id>")
def user_detail(realm: str, user_id: int) -> Response:
    subject = subject_user(user_id)
    db = get_session()
    status = factors.two_factor_status(db, subject)
    invited = invitations.invitation_states(db, [subject])
    return render("admin/user.html", subject=subject, status=status, invitations=invited)


@bp.route(f"/users/<{USER_ID}:user_id>/reset-2fa", methods=["GET", "POST"])
def reset_two_factor(realm: str, user_id: int) -> Response:
    subject = subject_user(user_id)
    denied = recent_sign_in()
    if denied:
        return denied
    if request.method == "GET":
        # A user the realm policy covers is asked to set two-factor up again at the next sign-in.
        covered = second_factor_required_by(get_session(), g.idp_realm, subject) == "realm"
        return render("admin/reset_confirm.html", subject=subject, covered=covered)
    db = get_session()
    factors.reset_second_factors(db, subject, actor=actor(), client_address=client_address())
    db.commit()
    flash(_("Two-factor authentication is disabled for %(email)s.", email=subject.email))
    return user_page(user_id)


def _refuse_own_account(subject: User) -> Response | None:
    if subject.id != g.user.id:
        return None
    flash(_("You cannot disable your own account."))
    return user_page(subject.id)


@bp.get(f"/users/<{USER_ID}:user_id>/disable")
def disable_confirm(realm: str, user_id: int) -> Response:
    """The confirmation of "Disable account": what it does, then the POST (``set_status``).
    Opening it changes nothing."""
    subject = subject_user(user_id)
    refused = _refuse_own_account(subject)
    if refused:
        return refused
    if subject.disabled:
        return user_page(user_id)
    denied = recent_sign_in()
    if denied:
        return denied
    return render("admin/disable_confirm.html", subject=subject)


@bp.post(f"/users/<{USER_ID}:user_id>/status")
def set_status(realm: str, user_id: int) -> Response:
    subject = subject_user(user_id)
    action = single("action")
    if action not in ("disable", "enable"):
        abort(400)
    if action == "disable":
        refused = _refuse_own_account(subject)
        if refused:
            return refused
        # After a sign-in again the admin is asked again, as the 2FA reset does.
        denied: Response | None = require_recent_sign_in(
            g.idp_realm,
            g.user,
            return_to=url_for("admin.disable_confirm", realm=realm, user_id=user_id),
        )
    else:
        denied = recent_sign_in(user_id)
    if denied:
        return denied
    db = get_session()
    change = accounts.disable_account if action == "disable" else accounts.enable_account
    change(db, subject, actor=actor(), client_address=client_address())
    db.commit()
    if subject.disabled:
        flash(_("The account %(email)s is disabled.", email=subject.email))
    else:
        flash(_("The account %(email)s is enabled.", email=subject.email))
    return user_page(user_id)


@bp.post(f"/users/<{USER_ID}:user_id>/email-verified")
def set_email_verified(realm: str, user_id: int) -> Response:
    subject = subject_user(user_id)
    value = single("verified")
    if value not in ("yes", "no"):
        abort(400)
    denied = recent_sign_in(user_id)
    if denied:
        return denied
    db = get_session()
    accounts.set_email_verified(
        db, subject, value == "yes", actor=actor(), client_address=client_address()
    )
    db.commit()
    if subject.email_verified:
        flash(_("The email address of %(email)s is marked verified.", email=subject.email))
    else:
        flash(_("The email address of %(email)s is marked not verified.", email=subject.email))
    return user_page(user_id)


def _password_problem(exc: InvalidInput) -> str:
    """The password rules' refusal (``passwords.validate_new_password``) in the page's
    language (the service marks its messages with ``N_``)."""
    return _(str(exc))


@bp.post(f"/users/<{USER_ID}:user_id>/password")
def reset_password(realm: str, user_id: int) -> Response:
    subject = subject_user(user_id)
    denied = recent_sign_in(user_id)
    if denied:
        return denied
    db = get_session()
    try:
        accounts.reset_password(
            db,
            subject,
            single("password") or "",
            actor=actor(),
            client_address=client_address(),
        )
    except InvalidInput as exc:
        db.rollback()
        flash(_password_problem(exc))
        return user_page(user_id)
    db.commit()
    flash(_("The password of %(email)s is reset.", email=subject.email))
    return user_page(user_id)


# -- the audit log ------------------------------------------------------------------------------
def _zone_statement() -> str:
    """Which zone the log's times are in (the IDP_TIMEZONE setting), with its offset now."""
    zone = get_timezone()
    name = str(zone)
    if name in ("UTC", "Etc/UTC"):
        return _("Times in UTC.")
    offset = clock.now().astimezone(zone).strftime("%z")
    offset = f"UTC{offset[:3]}:{offset[3:]}"
    return _("Times in %(zone)s (%(offset)s).", zone=zone_name(zone), offset=offset)


def _actor_label(actor: str) -> str:
    """Who acted, in the page's language: the stored ``anonymous``, ``user:<email>``,
    ``admin:<email>`` or ``operator`` read as words (the stored value is unchanged)."""
    kind, _sep, who = actor.partition(":")
    if actor == "anonymous":
        return _("(not signed in)")
    if actor == audit.OPERATOR:
        return _("Operator (command line)")
    if kind == "user" and who:
        return _("User: %(email)s", email=who)
    if kind == "admin" and who:
        return _("Admin: %(email)s", email=who)
    return actor


def _detail_value(value: Any, key: str = "") -> str:
    words = audit.SETTING_VALUE_LABELS.get(key, {})
    if isinstance(value, bool | str) and value in words:
        return _(words[value])
    if key == "unused_left" and isinstance(value, int) and not isinstance(value, bool):
        return pgettext("count of codes", "%(num)d", num=value)
    if key == "default_locale" and value in LANGUAGE_NAMES:
        return LANGUAGE_NAMES[value]
    if value is audit.HIDDEN:
        return _("hidden")
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, list):
        return list_words(_detail_value(v) for v in value) or "—"
    if isinstance(value, str) and value in audit.VALUE_LABELS:
        return _(audit.VALUE_LABELS[value])
    return str(value)


def _event_row(event: AuditEvent) -> dict[str, Any]:
    """What the audit table shows of one event, in the page's language and time zone."""
    details = []
    for item in audit.detail_items(event.detail):
        key = audit.DETAIL_LABELS.get(item.key)
        value = _detail_value(item.value, item.key)
        if item.changed:
            value = _("%(old)s → %(new)s", old=_detail_value(item.old, item.key), new=value)
        details.append((_(key) if key else item.key, value))
    label = audit.EVENT_LABELS.get(event.type)
    created: datetime = event.created_at
    return {
        "event": event,
        "label": pgettext(audit.LABEL_CONTEXT, label) if label else event.type,
        "actor": _actor_label(event.actor),
        "time": format_when(created),
        "iso": created.isoformat(),
        "details": details,
    }


def _type_options() -> list[tuple[str, list[tuple[str, str]]]]:
    """The type filter's choices, grouped: (group label, [(type, label)])."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for kind in audit.EVENT_TYPES:
        groups.setdefault(kind.group, []).append(
            (kind.type, pgettext(audit.LABEL_CONTEXT, kind.label))
        )
    return [(_(audit.GROUPS[name]), choices) for name, choices in groups.items()]


@bp.get("/audit")
def audit_log(realm: str) -> Response:
    subject = (request.args.get("user") or "")[:320]
    kind = (request.args.get("type") or "").strip()[:64]
    page = page_number()
    types = audit.matching_types(kind) if kind else None
    unknown = types == []
    rows: list[AuditEvent] = []
    total = 0
    if not unknown:
        rows, total = audit.list_events(
            get_session(),
            g.idp_realm.id,
            subject=subject or None,
            types=types,
            page=page,
            per_page=EVENTS_PER_PAGE,
        )
    return render(
        "admin/audit.html",
        400 if unknown else 200,
        rows=[_event_row(e) for e in rows],
        subject=subject,
        kind=kind,
        # A prefix from a link (``mfa.``) stays selected as its own choice.
        prefix=kind if types and kind not in audit.EVENT_LABELS else "",
        type_options=_type_options(),
        error=_("There is no event type “%(type)s”. Choose one from the list.", type=kind)
        if unknown
        else None,
        zone=_zone_statement(),
        page=page,
        pages=max(1, -(-total // EVENTS_PER_PAGE)),
        total=total,
    )
