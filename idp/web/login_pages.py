"""What the sign-in pages show around their forms, and where a person goes from a sign-in
that is over.

- The application being signed in to (the client's name, as Keycloak shows it) and, on the
  code pages, the account being signed in with "Not you? Start over".
- The throttle's wait (SPEC L6 and the password throttle): "Too many attempts." and a
  ``.countdown`` the page's script counts down (``idp/static/countdown.js``); without
  JavaScript the text still says when to try again, in words (SPEC V9: "about 3 hours").
  A long second-factor wait offers the emailed password reset and names the admin.
- A sign-in that is over (expired, finished, or not this browser's) is never a dead end: it
  offers "Start again", which goes back into the application's authorization request when
  this browser's sign-in knows it, and tells a browser that is in fact signed in so, with the
  way on.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Response, g, make_response, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from ..db import get_session
from ..i18n import use_interaction_locale
from ..interaction import flow
from ..models import Interaction, User
from ..services.clients import find_client
from ..services.errors import TooManyAttempts
from .common import binding_for, current_sso, is_local_path

WRONG_PASSWORD = _l("Invalid email or password.")
ACCOUNT_DISABLED = _l("This account is disabled. Contact your administrator.")
WRONG_CODE = _l(
    "That code was not right. Codes change every 30 seconds: enter the code your app shows "
    "now, and check that your phone's clock is set automatically."
)
WRONG_BACKUP_CODE = _l("That backup code was not right, or it was used already.")
TOO_MANY_ATTEMPTS = _l("Too many attempts.")
PASSKEY_REFUSED = _l(
    "That passkey was not accepted: it is not registered here, or your device did not "
    "verify you. Try again, or sign in with your password."
)
PASSKEY_OFF = _l("Signing in with a passkey is turned off here. Sign in with your password.")
KEY_REFUSED = _l(
    "Your security key was not accepted. Try again, or use another way to sign in below."
)
#: Why the code pages refuse codes for a while: the wrong codes before (SPEC V9).
CODES_PAUSED = _l(
    "Entering codes is paused for a while because wrong codes were entered several times in a row."
)


def application_name(ix: Interaction | None) -> str | None:
    """The name of the client whose authorization request this sign-in serves."""
    if ix is None or ix.kind != "authorize":
        return None
    client_id = (ix.params or {}).get("client_id")
    if not isinstance(client_id, str):
        return None
    client = find_client(get_session(), g.idp_realm, client_id)
    return client.name if client is not None else None


def render_page(
    template: str,
    ix: Interaction,
    *,
    user: User | None = None,
    status: int = 200,
    **context: Any,
) -> Response:
    """A sign-in page: the realm, the interaction, the application's name, and (``user``)
    the account being signed in, for the "Not you? Start over" line."""
    return make_response(
        render_template(
            template,
            realm=g.idp_realm,
            ix=ix,
            app_name=application_name(ix),
            signing_in_as=user.email if user is not None else None,
            **context,
        ),
        status,
    )


# -- the throttle's wait ----------------------------------------------------------------------
#: From this wait on, the second factor's refusal offers the ways out (SPEC V9): the emailed
#: password reset, which ends the wait, and an admin's reset of 2FA.
LONG_WAIT = 5 * 60
#: Up to this wait the words count hours ("about 20 hours"), from it days (SPEC V9).
HOURS_UP_TO = 36 * 3600


def wait_text(seconds: int) -> str:
    """The wait in words a person reads (SPEC V9): "Try again in N seconds.", minutes and
    seconds up to an hour, then "about N hours" and from a day and a half "about N days"."""
    if seconds < 60:
        return str(
            ngettext(
                "Try again in %(count)s second.",
                "Try again in %(count)s seconds.",
                seconds,
                count=seconds,
            )
        )
    if seconds < 3600:
        minutes, rest = divmod(seconds, 60)
        if rest == 0:
            return str(_("Try again in %(minutes)s min.", minutes=minutes))
        return str(_("Try again in %(minutes)s min %(seconds)s s.", minutes=minutes, seconds=rest))
    if seconds < HOURS_UP_TO:
        hours = max(1, round(seconds / 3600))
        return str(
            ngettext("Try again in about %(num)d hour.", "Try again in about %(num)d hours.", hours)
        )
    days = round(seconds / 86400)
    return str(
        ngettext("Try again in about %(num)d day.", "Try again in about %(num)d days.", days)
    )


def countdown(seconds: int, form_id: str) -> dict[str, Any]:
    """What ``login/_countdown.html`` draws: the wait now, and the texts the script counts
    down with (``{n}``, ``{m}``, ``{s}`` stand for the numbers). A wait of an hour or more
    keeps its words ("about 3 hours", ``long``) while it lasts that long."""
    return {
        "seconds": seconds,
        "form": form_id,
        "text": wait_text(seconds),
        "long": wait_text(seconds) if seconds >= 3600 else "",
        "one": ngettext(
            "Try again in %(count)s second.", "Try again in %(count)s seconds.", 1, count="{n}"
        ),
        "other": ngettext(
            "Try again in %(count)s second.", "Try again in %(count)s seconds.", 2, count="{n}"
        ),
        "minutes": _("Try again in %(minutes)s min %(seconds)s s.", minutes="{m}", seconds="{s}"),
        "whole_minutes": _("Try again in %(minutes)s min.", minutes="{m}"),
        "done": _("You can try again now."),
    }


def throttled_page(
    template: str,
    ix: Interaction,
    exc: TooManyAttempts,
    *,
    form_id: str,
    second_factor: bool = False,
    reason: str | None = None,
    status: int = 429,
    **context: Any,
) -> Response:
    """A form the throttle refused: 429 with ``Retry-After``, the error (``reason``, or "Too
    many attempts.") under the heading and the countdown. A long wait of the
    ``second_factor`` also offers the ways out (SPEC V9, ``login/_way_out.html``): the
    emailed password reset, which ends it, and the admin. A page shown (``status`` 200)
    while the wait lasts says the same before anything is typed."""
    way_out = None
    if second_factor and exc.retry_after >= LONG_WAIT:
        way_out = {
            "forgot_url": url_for("password_reset.forgot", realm=g.idp_realm.name, login=ix.uid)
        }
    resp = render_page(
        template,
        ix,
        status=status,
        error=reason or TOO_MANY_ATTEMPTS,
        wait=countdown(exc.retry_after, form_id),
        way_out=way_out,
        **context,
    )
    resp.headers["Retry-After"] = str(exc.retry_after)
    return resp


# -- a sign-in that is over -------------------------------------------------------------------
def _authorization_url(ix: Interaction) -> str:
    """The application's authorization request again, from the parameters the protocol
    stored. The authorization endpoint validates it anew (client, redirect URI, PKCE), so
    this is no open redirect; the pages pass the parameters on without reading them."""
    params = {k: v for k, v in (ix.params or {}).items() if isinstance(v, str)}
    return url_for("protocol.authorize", realm=g.idp_realm.name) + "?" + urlencode(params)


def _application_home(ix: Interaction) -> str | None:
    """The application's own address (the origin of its registered redirect URI, as
    Keycloak's "Back to application" uses the client's base URL), for a request that was
    answered already: replaying it would only meet a used nonce and state."""
    params = ix.params or {}
    client_id = params.get("client_id")
    if not isinstance(client_id, str):
        return None
    client = find_client(get_session(), g.idp_realm, client_id)
    redirect_uri = params.get("redirect_uri")
    if client is None or redirect_uri not in (client.redirect_uris or []):
        return None
    parts = urlsplit(str(redirect_uri))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}/"


def _way_on(ix: Interaction | None, *, answered: bool) -> str:
    """Where "Start again" / "Continue" leads: the authorization request the sign-in was
    for (the application's home once that request was answered) or its own page, else the
    account page."""
    realm = g.idp_realm
    if ix is not None and ix.kind == "authorize" and ix.params:
        if not answered:
            return _authorization_url(ix)
        if home := _application_home(ix):
            return home
    if ix is not None and ix.kind != "authorize" and is_local_path(realm, ix.return_to):
        return str(ix.return_to)
    return url_for("account.home", realm=realm.name)


def _is_this_browsers(ix: Interaction | None) -> bool:
    """Whether this browser ran the sign-in: it holds the binding, or its session is the one
    the sign-in created or the one of the user it identified. Only then does the page name
    the sign-in's application and lead back into its request."""
    if ix is None:
        return False
    if flow.is_bound_to(ix, binding_for(ix.uid)):
        return True
    sso = current_sso(g.idp_realm)
    return sso is not None and (
        (ix.progress or {}).get("finished_sid") == sso.sid
        or (ix.user_id is not None and ix.user_id == sso.user_id)
    )


def stale_page(uid: str | None, kind: str) -> Response:
    """The page of a sign-in that cannot go on (``kind``: ``expired`` or ``unknown``).

    A browser that is signed in (the back button after finishing) is told so and offered
    the way on; otherwise "Start again" leads back into the application's request when this
    browser's sign-in knows it, or to the account page.
    """
    realm = g.idp_realm
    db = get_session()
    found = flow.find_interaction(db, realm, uid) if uid else None
    ix = found if _is_this_browsers(found) else None
    if ix is not None:
        use_interaction_locale(ix.progress or {}, ix.params or {})
    sso = current_sso(realm)
    user = db.get(User, sso.user_id) if sso is not None else None
    finished = ix is not None and bool((ix.progress or {}).get("finished_sid"))
    # Answered: the request got its code (an abandoned one is used up too, unanswered).
    answered = finished and ix is not None and ix.completed_at is not None
    if user is not None and (finished or kind != "expired"):
        kind = "signed_in"
    return make_response(
        render_template(
            "login/stale.html",
            realm=realm,
            kind=kind,
            app_name=application_name(ix),
            again=_way_on(ix, answered=answered),
            signed_in_as=user.email if user is not None else None,
        ),
        400,
    )
