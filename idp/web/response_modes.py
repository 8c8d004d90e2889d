"""How an authorization response reaches the client.

Every answer of the authorization endpoint that goes back to a client (a code or an error)
leaves through :func:`deliver`, which

- names the issuer in an ``iss`` parameter (RFC 9207), so a client that talks to several
  providers can tell whose answer it got (the mix-up attack), and
- honours ``response_mode`` (OAuth 2.0 Multiple Response Types and Form Post Response Mode):
  ``query`` (the default for ``code``), ``fragment`` or ``form_post``. ``form_post`` answers
  with a page whose form posts the parameters to the redirect URI; a same-origin script
  submits it, and without JavaScript the user presses Continue.

Authlib builds the redirect; this module only re-routes its parameters (the protocol never
renders a page, so the form-post page is drawn here, in the web layer).
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl, urlsplit

from authlib.common.urls import add_params_to_uri
from flask import Response, g, make_response, render_template

from ..oidc.context import RESPONSE_MODES, issuer_for

DEFAULT_MODE = "query"

#: The form_post page needs its own script; nothing else is allowed.
FORM_POST_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)


def response_mode(data: Mapping[str, object] | None) -> str:
    """The requested mode, or the default when it is absent or not one we support (the error
    about an unsupported mode itself goes back by the default mode)."""
    mode = data.get("response_mode") if data is not None else None
    return mode if isinstance(mode, str) and mode in RESPONSE_MODES else DEFAULT_MODE


def _added_params(location: str, redirect_uri: str) -> list[tuple[str, str]]:
    """The parameters Authlib appended to the redirect URI's own query."""
    own = parse_qsl(urlsplit(redirect_uri).query, keep_blank_values=True)
    built = parse_qsl(urlsplit(location).query, keep_blank_values=True)
    return built[len(own) :]


def deliver(
    response: Response, redirect_uri: str | None, data: Mapping[str, object] | None
) -> Response:
    """Re-send Authlib's redirect to ``redirect_uri`` with ``iss`` and by the requested mode.

    Responses that are not a redirect to the client (an error page) pass unchanged.
    """
    location = response.headers.get("Location")
    if response.status_code != 302 or not location or not redirect_uri:
        return response
    params = [(k, v) for k, v in _added_params(location, redirect_uri) if k != "iss"]
    params.append(("iss", issuer_for(g.idp_realm)))
    mode = response_mode(data)
    if mode == "form_post":
        page = make_response(
            render_template("login/form_post.html", action=redirect_uri, params=params)
        )
        page.headers["Content-Security-Policy"] = FORM_POST_CSP
        page.headers["Cache-Control"] = "no-store"
        return page
    response.headers["Location"] = add_params_to_uri(
        redirect_uri, params, fragment=mode == "fragment"
    )
    return response
