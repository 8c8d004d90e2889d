"""The signed-out page, and OpenID Connect Front-Channel Logout 1.0 on it.

Every page that ends a session in this browser (RP-initiated logout, the account page's Sign
out and Sign out everywhere) ends with this page. It loads, in hidden iframes, the
front-channel logout URI of each application that signed in to a session that ended
(``services.logout.frontchannel_urls``: with ``iss`` and ``sid`` when the application
registered ``frontchannel_logout_session_required``), so that each application ends its own
session with its own cookies (section 2). Its Content-Security-Policy allows exactly those
frames: ``frame-src`` with their origins (``headers.csp_with_frames``).

When a relying party asked to come back (``post_logout_redirect_uri``, with its ``state``)
the page continues there once the frames have loaded: ``frontchannel.js`` (a same-origin
script) goes on as soon as every iframe fired ``load`` (after ``CONTINUE_AFTER`` seconds at
the latest), a ``<meta http-equiv="refresh">`` in ``<noscript>`` goes on after those seconds
without JavaScript, and a Continue link is there for the user.

The iframes are same-site when the applications share the provider's site; a cross-site
application sees its cookies in the iframe only if they are ``SameSite=None; Secure`` (and
the browser lets third-party cookies through), which is why back-channel logout is the more
reliable of the two.

The console and the ``idp`` command end sessions too, but have no browser of the user's to
load anything in: they draw no such page (back-channel logout tells those applications).
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import make_response, render_template
from werkzeug.wrappers import Response

from ..db import get_session
from ..headers import csp_with_frames, origin_of
from ..models import Realm
from ..services.logout import frontchannel_urls

#: Seconds the page waits for the iframes before it goes on anyway (by the meta refresh
#: without JavaScript; with it, as soon as every iframe has loaded, or after these seconds).
CONTINUE_AFTER = 3


def frames_for(realm: Realm, sids: Iterable[str]) -> list[str]:
    """The front-channel logout URLs to load for the ended sessions ``sids``: those whose
    origin the page's CSP can name (every URI registered through ``services.clients`` can)."""
    return [u for u in frontchannel_urls(get_session(), realm, sids) if origin_of(u)]


def signed_out_page(
    realm: Realm, frames: list[str] | None = None, *, continue_to: str | None = None
) -> Response:
    """The signed-out page loading ``frames`` (``frames_for`` the sessions that just ended in
    this browser), going on to ``continue_to`` (the relying party's post-logout redirect,
    already checked) when there is one."""
    frames = frames or []
    resp = make_response(
        render_template(
            "login/logged_out.html",
            realm=realm,
            frames=frames,
            continue_to=continue_to,
            continue_after=CONTINUE_AFTER,
        )
    )
    if frames:
        resp.headers["Content-Security-Policy"] = csp_with_frames(frames)
    return resp
