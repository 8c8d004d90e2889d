"""The ``admin`` blueprint and what the console's view modules share: the realm from the URL,
the admins-only gate, the page renderer, the user a URL names, the recent sign-in the account
actions need, and the user list's "not yet enrolled" filter (which the settings page counts).

The views are in ``admin`` (a user's page and account actions, the audit log) and
``admin_users`` (the user list, invitations, the email-address controls); ``admin_settings``
is a blueprint of its own. Each imports this module, none imports another view module, and
``admin`` imports ``admin_users`` so that registering ``admin.bp`` brings every route."""

from __future__ import annotations

from typing import Any, TypedDict

from flask import Blueprint, abort, g, make_response, redirect, render_template, request, url_for
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from ..db import get_session
from ..interaction import policy
from ..interaction.context import realm_policy
from ..models import Realm, User
from ..services import audit, users
from .common import load_realm, require_admin, require_recent_sign_in

bp = Blueprint("admin", __name__, url_prefix="/realms/<realm>/admin")
PER_PAGE = 25
#: The converter of user ids in URLs: a number the ``user_account.id`` column can hold (a
#: 32-bit integer on PostgreSQL); a larger one is no user, 404 without a query.
USER_ID = f"int(max={2**31 - 1})"
#: The value of the user list's ``show`` parameter that keeps the users the realm's policy
#: covers and who have no second factor yet.
NOT_ENROLLED = "not-enrolled"


@bp.url_value_preprocessor
def _realm(endpoint: str | None, values: dict[str, Any] | None) -> None:
    if values and "realm" in values:
        load_realm(values["realm"])


@bp.before_request
def _admin_only() -> Response | None:
    return require_admin(g.idp_realm)


def page_number() -> int:
    """The ``page`` query parameter of a paged list; 1 when it is missing or not a page."""
    raw = request.args.get("page", "1")
    # Five digits at most: int() of thousands of digits raises rather than returning.
    if len(raw) <= 5 and raw.isascii() and raw.isdigit() and int(raw) > 0:
        return int(raw)
    return 1


def render(template: str, http_status: int = 200, /, **context: Any) -> Response:
    """A console page. Positional-only: templates take a ``status`` variable (the
    two-factor status)."""
    return make_response(
        render_template(template, realm=g.idp_realm, user=g.user, **context), http_status
    )


def subject_user(user_id: int) -> User:
    """The realm's user ``user_id`` names (404 when there is none)."""
    subject = users.get_user(get_session(), g.idp_realm.id, user_id)
    if subject is None:
        abort(404)
    return subject


def actor() -> str:
    """The signed-in admin, as the audit log records them."""
    return audit.actor_for(g.user, admin=True)


def user_page(user_id: int) -> Response:
    """Back to the user's page in the console."""
    return redirect(url_for("admin.user_detail", realm=g.idp_realm.name, user_id=user_id))


def recent_sign_in(user_id: int | None = None) -> Response | None:
    """The account actions need a recent sign-in with every factor the admin has.
    A refused POST changes nothing; after the sign-in the browser comes back to the user's
    page (``user_id``) or, by default, to the page it was on."""
    return_to = None
    if user_id is not None:
        return_to = url_for("admin.user_detail", realm=g.idp_realm.name, user_id=user_id)
    return require_recent_sign_in(g.idp_realm, g.user, return_to=return_to)


# -- the rollout of "require 2FA" (SPEC P1, P2): the user list's filter, the settings' count --
class UserFilter(TypedDict):
    """``users.search_users``' keyword arguments that narrow the list."""

    without_second_factor: bool
    admins_only: bool


def not_enrolled_filter(realm: Realm) -> UserFilter | None:
    """``search_users``' arguments for the users the realm's policy covers (SPEC P1) who
    have no second factor; None when the policy covers nobody."""
    covers = realm_policy(realm).require_2fa
    if covers == policy.REQUIRE_ALL:
        return UserFilter(without_second_factor=True, admins_only=False)
    if covers == policy.REQUIRE_ADMINS:
        return UserFilter(without_second_factor=True, admins_only=True)
    return None


def count_not_enrolled(db: Session, realm: Realm) -> tuple[int, int, bool]:
    """How many users have no second factor, out of how many, and whether those are the
    users the policy covers (True) or, when it covers nobody, all of the realm's users."""
    kept = not_enrolled_filter(realm)
    admins_only = kept is not None and kept["admins_only"]
    _, missing = users.search_users(
        db, realm, per_page=0, without_second_factor=True, admins_only=admins_only
    )
    _, out_of = users.search_users(db, realm, per_page=0, admins_only=admins_only)
    return missing, out_of, kept is not None
