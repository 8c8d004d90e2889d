"""The pages behind emailed links (issue 9): confirming an email address, and accepting an
invitation by choosing a password.

A link's secret is in the path (``/realms/<realm>/email/verify/<token>``); every page sends
``Referrer-Policy: no-referrer`` and ``Cache-Control: no-store``, so it leaks neither to other
sites nor to caches. Opening a link changes nothing: mail scanners that fetch links would
otherwise spend them. The page asks for a click (verification) or the new password
(invitation), and that POST spends the link (``services.verification``,
``services.invitations``). A link that is not valid, whatever the reason, gets one page.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, g, make_response, render_template, url_for
from flask_babel import gettext as _

from ..db import get_session
from ..services import invitations, verification
from ..services.errors import InvalidInput
from .brand import error_page
from .common import client_address, current_user, load_realm, require_sign_in, single

bp = Blueprint("email_links", __name__, url_prefix="/realms/<realm>/email")
#: The longest token accepted in a path (``action_tokens`` issues 43 characters).
TOKEN = "string(maxlength=100)"  # noqa: S105 - a URL converter, not a password


@bp.url_value_preprocessor
def _realm(endpoint: str | None, values: dict[str, Any] | None) -> None:
    if values and "realm" in values:
        load_realm(values["realm"])


def _render(template: str, http_status: int = 200, /, **context: Any) -> Response:
    return make_response(
        render_template(template, realm=g.idp_realm, user=current_user(g.idp_realm), **context),
        http_status,
    )


def _link_not_valid(message: str) -> Response:
    return error_page(400, _("This link does not work"), message)


# -- address verification ------------------------------------------------------------------------
def _verify_link_not_valid() -> Response:
    return _link_not_valid(
        _(
            "It was used already, has expired, was replaced by a newer link, or the account's "
            "email address changed since it was sent. Send a new link from your account page."
        )
    )


@bp.get(f"/verify/<{TOKEN}:token>")
def verify(realm: str, token: str) -> Response:
    subject = verification.pending_verification(get_session(), g.idp_realm, token)
    if subject is None:
        return _verify_link_not_valid()
    return _render("account/verify_email.html", email=subject.email, token=token)


@bp.post(f"/verify/<{TOKEN}:token>")
def verify_confirm(realm: str, token: str) -> Response:
    db = get_session()
    try:
        subject = verification.verify_email(db, g.idp_realm, token, client_address=client_address())
    except verification.InvalidLink:
        db.commit()  # a link spent for a changed address stays spent, and is audited
        return _verify_link_not_valid()
    db.commit()
    return _render("account/email_verified.html", email=subject.email)


# -- invitations -------------------------------------------------------------------------------
def _invitation_not_valid() -> Response:
    return _link_not_valid(
        _(
            "It was used already, has expired, was replaced by a newer invitation, or the "
            "invitation was withdrawn. Ask your administrator for a new invitation."
        )
    )


@bp.get(f"/invitation/<{TOKEN}:token>")
def invitation(realm: str, token: str) -> Response:
    invited = invitations.pending_invitation(get_session(), g.idp_realm, token)
    if invited is None:
        return _invitation_not_valid()
    return _render("account/invitation.html", invited=invited, token=token)


@bp.post(f"/invitation/<{TOKEN}:token>")
def invitation_accept(realm: str, token: str) -> Response:
    """Set the invited account's password; then the browser goes to the sign-in, with the
    address filled in (the user signs in with the new password, and any second-factor
    policy of the realm applies there as for every sign-in)."""
    db = get_session()
    invited = invitations.pending_invitation(db, g.idp_realm, token)
    if invited is None:
        return _invitation_not_valid()
    new = single("new_password") or ""
    if new != (single("confirm_password") or ""):
        return _render(
            "account/invitation.html",
            400,
            invited=invited,
            token=token,
            error=_("The new passwords do not match."),
        )
    try:
        user = invitations.accept_invitation(
            db, g.idp_realm, token, new, client_address=client_address()
        )
    except InvalidInput as exc:
        db.rollback()
        # The password rules' refusal (marked N_ in idp.services.passwords), translated.
        return _render(
            "account/invitation.html", 400, invited=invited, token=token, error=_(str(exc))
        )
    except invitations.InvalidInvitation:
        db.rollback()
        return _invitation_not_valid()
    db.commit()
    flash(_("Your password is set and your email address is verified. Sign in to continue."))
    return require_sign_in(g.idp_realm, user=user, return_to=url_for("account.home", realm=realm))
