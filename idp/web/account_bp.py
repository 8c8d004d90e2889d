"""The ``account`` blueprint and what its view modules share: the realm from the URL, the
signed-in user every page needs, and the page renderer. The views are in ``account``
(profile, sessions, password), ``account_two_factor`` and ``account_keys``; each imports
this module, none imports another's blueprint, and ``account`` imports the other two so
that registering ``account.bp`` brings every route."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, make_response, render_template
from werkzeug.wrappers import Response

from ..db import get_session
from ..i18n import switched_locale
from ..services import users
from .common import current_user, load_realm, require_sign_in

bp = Blueprint("account", __name__, url_prefix="/realms/<realm>/account")


@bp.url_value_preprocessor
def _realm(endpoint: str | None, values: dict[str, Any] | None) -> None:
    if values and "realm" in values:
        load_realm(values["realm"])


@bp.before_request
def _signed_in() -> Response | None:
    user = current_user(g.idp_realm)
    if user is None:
        return require_sign_in(g.idp_realm)
    g.user = user
    # The language switch used on the account pages is the user's language for mail.
    if users.record_locale(user, switched_locale()):
        get_session().commit()
    return None


def render(template: str, http_status: int = 200, /, **context: Any) -> Response:
    """An account page for the signed-in user. Positional-only: templates take a ``status``
    variable (the two-factor status)."""
    return make_response(
        render_template(template, realm=g.idp_realm, user=g.user, **context), http_status
    )
