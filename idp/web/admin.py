"""The realm's admin console (SPEC A1, A2, A4): users with their 2FA state, a user's page
(disable 2FA, disable/enable the account, reset the password, vouch for the email address,
the sessions with the applications each signed in to and their Sign out: issue 17), and the
audit log.

The account actions are the services' (``services.accounts``, ``factors``), which the CLI
calls too; each needs a recent sign-in with every factor the admin has. The destructive ones
(disable 2FA, disable the account) ask for confirmation on a page of their own first. The
blueprint and what the console's view modules share are in ``admin_bp``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import abort, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext, pgettext
from werkzeug.wrappers import Response

from ..db import get_session
from ..formats import format_when, join_sentences, list_words
from ..i18n import LANGUAGE_NAMES
from ..interaction.context import second_factor_required_by
from ..models import AuditEvent, Client, User
from ..services import accounts, audit, factors, invitations, logout, sessions
from ..services.errors import InvalidInput

# The blueprint's other view modules: importing them puts their routes on ``bp``, so that
# registering ``admin.bp`` brings every console page (each imports ``admin_bp``, not this);
# ``admin_deliveries`` also says which zone the console's times are in.
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
from .admin_deliveries import zone_statement
from .common import client_address, current_sso, require_recent_sign_in, single

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
    return render(
        "admin/user.html",
        subject=subject,
        status=status,
        invitations=invited,
        sessions=_session_rows(subject),
    )


# -- the user's sessions and the applications each signed in to (issue 17) --------------------
def browser_label(user_agent: str | None) -> str:
    """A session's browser in short form, in the page's language ("Firefox on Windows"), as
    the account page names it."""
    browser, platform = sessions.browser_summary(user_agent)
    if browser and platform:
        return _("%(browser)s on %(platform)s", browser=browser, platform=platform)
    return browser or platform or _("Unknown browser")


def _session_rows(subject: User) -> list[dict[str, Any]]:
    """The user's active sessions, newest first, each with its opaque handle (the Sign out
    form names it by that, never by its row id or sid) and the applications it signed in
    to."""
    db = get_session()
    rows = sessions.list_active_sessions(db, subject)
    signed_in_to = logout.session_clients(db, [row.id for row in rows])
    this = current_sso(g.idp_realm)
    return [
        {
            "handle": sessions.session_handle(row),
            "browser": browser_label(row.user_agent),
            "address": row.client_address,
            "signed_in": row.created_at,
            "clients": signed_in_to[row.id],
            "this_browser": this is not None and row.id == this.id,
        }
        for row in rows
    ]


def _told(clients: list[Client]) -> str | None:
    """What the flash adds about the applications told by back-channel logout (those of
    ``clients`` with a back-channel URI), or None when none is."""
    told = {client.id: client.name for client in clients if client.backchannel_logout_uri}
    names = list(told.values())
    if not names:
        return None
    return ngettext(
        "%(num)d application is told by back-channel logout: %(names)s.",
        "%(num)d applications are told by back-channel logout: %(names)s.",
        len(names),
        names=list_words(names),
    )


@bp.post(f"/users/<{USER_ID}:user_id>/sessions/sign-out")
def sign_out_session(realm: str, user_id: int) -> Response:
    """End one of the user's sessions (the form names it by its handle, looked up among this
    user's sessions only): at the provider, its tokens revoked, and at the applications it
    signed in to that take back-channel logout (a logout token each, through the outbox)."""
    subject = subject_user(user_id)
    handle = single("session")
    denied = recent_sign_in(user_id)
    if denied:
        return denied
    db = get_session()
    row = sessions.find_own_session(db, subject, handle)
    if row is None:
        flash(_("That session has ended already."))
        return user_page(user_id)
    browser = browser_label(row.user_agent)
    clients = logout.session_clients(db, [row.id])[row.id]
    sessions.sign_out_session_by_admin(
        db, subject, row, actor=actor(), client_address=client_address()
    )
    db.commit()
    told = _told(clients)
    signed_out = _("The session on %(browser)s is signed out.", browser=browser)
    flash(join_sentences(signed_out, told) if told else signed_out)
    return user_page(user_id)


@bp.post(f"/users/<{USER_ID}:user_id>/sessions/sign-out-all")
def sign_out_all_sessions(realm: str, user_id: int) -> Response:
    """End every session of the user, and every sign-in they have under way, as the account
    actions that sign a user out do (``sessions.sign_out_by_admin``)."""
    subject = subject_user(user_id)
    denied = recent_sign_in(user_id)
    if denied:
        return denied
    db = get_session()
    rows = sessions.list_active_sessions(db, subject)
    signed_in_to = logout.session_clients(db, [row.id for row in rows])
    clients = [client for row in rows for client in signed_in_to[row.id]]
    sessions.sign_out_by_admin(
        db,
        subject,
        reason=sessions.AdminReason.SIGNED_OUT,
        actor=actor(),
        client_address=client_address(),
    )
    db.commit()
    signed_out = ngettext(
        "%(num)d session of %(email)s is signed out.",
        "%(num)d sessions of %(email)s are signed out.",
        len(rows),
        email=subject.email,
    )
    told = _told(clients)
    flash(join_sentences(signed_out, told) if told else signed_out)
    return user_page(user_id)


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
        zone=zone_statement(),
        page=page,
        pages=max(1, -(-total // EVENTS_PER_PAGE)),
        total=total,
    )
