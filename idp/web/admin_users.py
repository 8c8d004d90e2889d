"""The console's invitations and email-address controls (issue 9), on the ``admin``
blueprint: Users > Invite user, an invitation's Resend and Revoke, "Send verification link",
and a change of address (which makes ``email_verified`` false unless the admin vouches for
the new address).

Inviting is the console's way to add a user: the admin never knows the user's password. The
actions are the services' (``services.invitations``, ``services.verification``), which the
CLI calls too; each needs a recent sign-in with every factor the admin has, as the other
account actions do.

The user list lives here too: the search, and for the rollout of a realm's "require 2FA"
(SPEC P1, P2) each covered user's deadline to enrol and the "Not yet enrolled" filter. The
deadline is the policy's own (``interaction.policy.grace_ends``), so the list shows the day
the sign-in starts to insist."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import abort, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from .. import clock
from ..db import get_session
from ..formats import format_when
from ..i18n import current_locale, supported
from ..interaction import policy
from ..interaction.context import realm_policy
from ..models import Realm, User
from ..services import factors, invitations, users, verification
from ..services.errors import AlreadyExists, InvalidInput, TooManyAttempts
from ..services.factors import TwoFactorStatus
from .admin_bp import (
    NOT_ENROLLED,
    PER_PAGE,
    USER_ID,
    UserFilter,
    actor,
    bp,
    not_enrolled_filter,
    page_number,
    recent_sign_in,
    render,
    subject_user,
    user_page,
)
from .common import client_address, require_recent_sign_in, single


@dataclass(frozen=True)
class Enrolment:
    """Where a listed user stands with the realm's requirement of a second factor."""

    #: The policy covers the user and they have no second factor.
    missing: bool = False
    #: While the grace period lasts, its end: the sign-in insists from then on.
    deadline: datetime | None = None


def enrolment_states(
    realm: Realm, rows: list[User], statuses: dict[int, TwoFactorStatus]
) -> dict[int, Enrolment]:
    """Each user's ``Enrolment``, by the policy's own rules (``realm_covers``,
    ``grace_ends``)."""
    rules = realm_policy(realm)
    now = clock.now()
    states: dict[int, Enrolment] = {}
    for row in rows:
        facts = policy.UserFacts(
            is_admin=bool(row.is_admin),
            has_second_factor=statuses[row.id].enabled,
            created_at=row.created_at,
        )
        if facts.has_second_factor or not policy.realm_covers(rules, facts):
            states[row.id] = Enrolment()
            continue
        ends = policy.grace_ends(rules, facts)
        in_grace = policy.grace_days_left(rules, facts, now) > 0
        states[row.id] = Enrolment(missing=True, deadline=ends if in_grace else None)
    return states


@bp.get("/users")
def users_list(realm: str) -> Response:
    """The realm's users, searched by address or name; ``show=not-enrolled`` keeps those
    the policy covers who have not set up 2FA yet."""
    db = get_session()
    query = (request.args.get("q") or "")[:200]
    show = NOT_ENROLLED if request.args.get("show") == NOT_ENROLLED else ""
    page = page_number()
    kept = not_enrolled_filter(g.idp_realm)
    rows: list[User] = []
    total = 0
    if not show or kept is not None:
        narrow = (
            kept if show and kept else UserFilter(without_second_factor=False, admins_only=False)
        )
        rows, total = users.search_users(db, g.idp_realm, query, page, PER_PAGE, **narrow)
    statuses = factors.two_factor_statuses(db, rows)
    context: dict[str, Any] = {
        "rows": rows,
        "statuses": statuses,
        "invitations": invitations.invitation_states(db, rows),
        "enrolment": enrolment_states(g.idp_realm, rows, statuses),
        "requires": kept is not None,
        "show": show,
        "q": query,
        "page": page,
        "pages": max(1, -(-total // PER_PAGE)),
        "total": total,
    }
    return render("admin/users.html", **context)


def _inviter() -> str:
    return g.user.display_name or g.user.email


@bp.route("/users/invite", methods=["GET", "POST"])
def invite_user(realm: str) -> Response:
    """Users > Invite user: the address, a name, whether the user is an admin, and the
    language of the invitation (the admin's page language unless chosen). The account is
    created with no password and the user gets a link to choose one (valid 7 days)."""
    if request.method == "GET":
        return render("admin/invite.html", form={"locale": current_locale()})
    email = (single("email") or "").strip()
    name = (single("name") or "").strip()
    is_admin = single("admin") == "yes"
    locale = supported(single("locale")) or current_locale()
    form = {"email": email, "name": name, "admin": is_admin, "locale": locale}
    denied = require_recent_sign_in(
        g.idp_realm, g.user, return_to=url_for("admin.invite_user", realm=realm)
    )
    if denied:
        return denied
    db = get_session()
    try:
        subject, expires = invitations.invite_user(
            db,
            g.idp_realm,
            email,
            display_name=name,
            is_admin=is_admin,
            actor=actor(),
            inviter=_inviter(),
            locale=locale,
            client_address=client_address(),
        )
    except (InvalidInput, AlreadyExists) as exc:
        db.rollback()
        return render("admin/invite.html", 400, form=form, error=_(str(exc)))
    db.commit()
    flash(
        _(
            "%(email)s is invited. The invitation expires on %(date)s.",
            email=subject.email,
            date=format_when(expires),
        )
    )
    return user_page(subject.id)


@bp.get(f"/users/<{USER_ID}:user_id>/invitation/revoke")
def revoke_invitation_confirm(realm: str, user_id: int) -> Response:
    """The confirmation of "Revoke invitation" (it deletes the account); opening it changes
    nothing. An account that is not waiting for its invitation goes back to its page."""
    subject = subject_user(user_id)
    if not invitations.is_invited(subject):
        return user_page(user_id)
    denied = recent_sign_in()
    if denied:
        return denied
    return render("admin/revoke_invitation_confirm.html", subject=subject)


@bp.post(f"/users/<{USER_ID}:user_id>/invitation")
def invitation(realm: str, user_id: int) -> Response:
    """Resend (a new link; the old one stops working) or Revoke (the never-used account is
    deleted) an invitation."""
    subject = subject_user(user_id)
    action = single("action")
    if action not in ("resend", "revoke"):
        abort(400)
    denied = recent_sign_in(user_id)
    if denied:
        return denied
    db = get_session()
    email = subject.email
    try:
        if action == "resend":
            expires = invitations.resend_invitation(
                db,
                g.idp_realm,
                subject,
                actor=actor(),
                inviter=_inviter(),
                client_address=client_address(),
            )
        else:
            invitations.revoke_invitation(
                db, subject, actor=actor(), client_address=client_address()
            )
    except invitations.NotInvited:
        db.rollback()
        flash(_("%(email)s has accepted the invitation already.", email=email))
        return user_page(user_id)
    db.commit()
    if action == "revoke":
        flash(_("The invitation of %(email)s is revoked and the account deleted.", email=email))
        return redirect(url_for("admin.users_list", realm=realm))
    flash(
        _(
            "A new invitation is sent to %(email)s. It expires on %(date)s.",
            email=email,
            date=format_when(expires),
        )
    )
    return user_page(user_id)


@bp.post(f"/users/<{USER_ID}:user_id>/send-verification")
def send_verification(realm: str, user_id: int) -> Response:
    """Email the user a link that verifies their address (at most one a minute)."""
    subject = subject_user(user_id)
    denied = recent_sign_in(user_id)
    if denied:
        return denied
    db = get_session()
    try:
        verification.send_verification(
            db, g.idp_realm, subject, actor=actor(), client_address=client_address()
        )
    except verification.AlreadyVerified:
        flash(_("The email address of %(email)s is verified already.", email=subject.email))
        return user_page(user_id)
    except TooManyAttempts as exc:
        db.rollback()
        flash(
            _(
                "A link was sent less than a minute ago. Wait %(seconds)d seconds before "
                "asking for another.",
                seconds=exc.retry_after,
            )
        )
        return user_page(user_id)
    db.commit()
    flash(_("A verification link is sent to %(email)s.", email=subject.email))
    return user_page(user_id)


@bp.post(f"/users/<{USER_ID}:user_id>/email")
def change_email(realm: str, user_id: int) -> Response:
    """Give the user a new address; it is not verified unless the admin vouches for it."""
    subject = subject_user(user_id)
    denied = recent_sign_in(user_id)
    if denied:
        return denied
    db = get_session()
    try:
        changed = verification.change_email(
            db,
            subject,
            single("email") or "",
            verified=single("verified") == "yes",
            actor=actor(),
            client_address=client_address(),
        )
    except (InvalidInput, AlreadyExists) as exc:
        db.rollback()
        flash(_(str(exc)))
        return user_page(user_id)
    db.commit()
    if changed:
        flash(_("The email address is now %(email)s.", email=subject.email))
    return user_page(user_id)
