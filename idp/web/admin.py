"""The realm's admin console (SPEC A1, A2, A4): users with their 2FA state, a user's page
(disable 2FA, disable/enable the account, reset the password, vouch for the email address),
and the audit log.

The account actions are the services' (``services.accounts``, ``factors``), which the CLI
calls too; each needs a recent sign-in with every factor the admin has."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)

from ..db import get_session
from ..models import User
from ..services import accounts, audit, factors, users
from ..services.errors import InvalidInput
from .common import (
    client_address,
    load_realm,
    require_admin,
    require_recent_sign_in,
    single,
)

bp = Blueprint("admin", __name__, url_prefix="/realms/<realm>/admin")
PER_PAGE = 25


@bp.url_value_preprocessor
def _realm(endpoint: str | None, values: dict[str, Any] | None) -> None:
    if values and "realm" in values:
        load_realm(values["realm"])


@bp.before_request
def _admin_only() -> Response | None:
    return require_admin(g.idp_realm)


def _page_number() -> int:
    raw = request.args.get("page", "1")
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < int(raw) < 100000 else 1


def _render(template: str, http_status: int = 200, /, **context: Any) -> Response:
    # Positional-only: templates take a ``status`` variable (the two-factor status).
    return make_response(
        render_template(template, realm=g.idp_realm, user=g.user, **context), http_status
    )


def _subject(user_id: int) -> User:
    subject = users.get_user(get_session(), g.idp_realm.id, user_id)
    if subject is None:
        abort(404)
    return subject


def _actor() -> str:
    return audit.actor_for(g.user, admin=True)


@bp.get("/")
def index(realm: str) -> Response:
    return redirect(url_for("admin.users_list", realm=realm))


@bp.get("/users")
def users_list(realm: str) -> Response:
    db = get_session()
    query = (request.args.get("q") or "")[:200]
    page = _page_number()
    rows, total = users.search_users(db, g.idp_realm, query, page, PER_PAGE)
    statuses = factors.two_factor_statuses(db, rows)
    pages = max(1, -(-total // PER_PAGE))
    return _render(
        "admin/users.html",
        rows=rows,
        statuses=statuses,
        q=query,
        page=page,
        pages=pages,
        total=total,
    )


@bp.get("/users/<int:user_id>")
def user_detail(realm: str, user_id: int) -> Response:
    subject = _subject(user_id)
    status = factors.two_factor_status(get_session(), subject)
    return _render("admin/user.html", subject=subject, status=status)


def _user_page(user_id: int) -> Response:
    return redirect(url_for("admin.user_detail", realm=g.idp_realm.name, user_id=user_id))


def _recent_sign_in(user_id: int | None = None) -> Response | None:
    """The account actions below need a recent sign-in with every factor the admin has.
    A refused POST changes nothing; after the sign-in the browser comes back to the user's
    page (``user_id``) or, by default, to the page it was on."""
    return_to = None
    if user_id is not None:
        return_to = url_for("admin.user_detail", realm=g.idp_realm.name, user_id=user_id)
    return require_recent_sign_in(g.idp_realm, g.user, return_to=return_to)


@bp.route("/users/<int:user_id>/reset-2fa", methods=["GET", "POST"])
def reset_two_factor(realm: str, user_id: int) -> Response:
    subject = _subject(user_id)
    denied = _recent_sign_in()
    if denied:
        return denied
    if request.method == "GET":
        return _render("admin/reset_confirm.html", subject=subject)
    db = get_session()
    factors.reset_second_factors(db, subject, actor=_actor(), client_address=client_address())
    db.commit()
    flash(f"Two-factor authentication is disabled for {subject.email}.")
    return _user_page(user_id)


@bp.post("/users/<int:user_id>/status")
def set_status(realm: str, user_id: int) -> Response:
    subject = _subject(user_id)
    action = single("action")
    if action not in ("disable", "enable"):
        abort(400)
    if subject.id == g.user.id and action == "disable":
        flash("You cannot disable your own account.")
        return _user_page(user_id)
    denied = _recent_sign_in(user_id)
    if denied:
        return denied
    db = get_session()
    change = accounts.disable_account if action == "disable" else accounts.enable_account
    change(db, subject, actor=_actor(), client_address=client_address())
    db.commit()
    flash(f"The account {subject.email} is {'disabled' if subject.disabled else 'enabled'}.")
    return _user_page(user_id)


@bp.post("/users/<int:user_id>/email-verified")
def set_email_verified(realm: str, user_id: int) -> Response:
    subject = _subject(user_id)
    value = single("verified")
    if value not in ("yes", "no"):
        abort(400)
    denied = _recent_sign_in(user_id)
    if denied:
        return denied
    db = get_session()
    accounts.set_email_verified(
        db, subject, value == "yes", actor=_actor(), client_address=client_address()
    )
    db.commit()
    flash(
        f"The email address of {subject.email} is marked "
        f"{'verified' if subject.email_verified else 'not verified'}."
    )
    return _user_page(user_id)


@bp.post("/users/<int:user_id>/password")
def reset_password(realm: str, user_id: int) -> Response:
    subject = _subject(user_id)
    denied = _recent_sign_in(user_id)
    if denied:
        return denied
    db = get_session()
    try:
        accounts.reset_password(
            db,
            subject,
            single("password") or "",
            actor=_actor(),
            client_address=client_address(),
        )
    except InvalidInput as exc:
        db.rollback()
        flash(str(exc))
        return _user_page(user_id)
    db.commit()
    flash(f"The password of {subject.email} is reset.")
    return _user_page(user_id)


@bp.get("/audit")
def audit_log(realm: str) -> Response:
    subject = (request.args.get("user") or "")[:320]
    type_prefix = (request.args.get("type") or "")[:64]
    page = _page_number()
    rows, total = audit.list_events(
        get_session(),
        g.idp_realm.id,
        subject=subject or None,
        type_prefix=type_prefix or None,
        page=page,
        per_page=50,
    )
    pages = max(1, -(-total // 50))
    return _render(
        "admin/audit.html",
        rows=rows,
        subject=subject,
        type_prefix=type_prefix,
        page=page,
        pages=pages,
        total=total,
    )
