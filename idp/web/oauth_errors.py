"""The page for a protocol error that must not go back to the application (unknown client,
unregistered redirect URI, tampered hint): the error code, and the reason in the reader's
language (review 3c)."""

from __future__ import annotations

import re

from authlib.oauth2 import OAuth2Error
from flask import Response, make_response, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

#: The reasons an error page gives, in the reader's language: the descriptions (Authlib's and
#: this provider's) of the errors that can't go back to the application. Any other
#: description is shown as it is, behind "Details" (review 3c).
PAGE_REASONS: dict[str, LazyString] = {
    "The 'redirect_uri' is not registered for this client.": _l(
        "The 'redirect_uri' is not registered for this client."
    ),
    "Missing 'redirect_uri' in request.": _l("Missing 'redirect_uri' in request."),
    "The client does not exist on this server.": _l("The client does not exist on this server."),
    "Missing 'client_id' parameter.": _l("Missing 'client_id' parameter."),
    "Unsupported 'response_type'; supported: code.": _l(
        "Unsupported 'response_type'; supported: code."
    ),
    "'client_id' does not match 'aud' claim": _l(
        "The 'client_id' is not the application the 'id_token_hint' was issued to."
    ),
}
_MULTIPLE = re.compile(r"Multiple '(\w+)' in request\.")


def page_reason(description: str) -> str | None:
    """The translated reason for an error's ``description``; None when there is none."""
    if description in PAGE_REASONS:
        return str(PAGE_REASONS[description])
    multiple = _MULTIPLE.fullmatch(description)
    if multiple:
        return _("The parameter '%(name)s' is given more than once.", name=multiple.group(1))
    return None


def error_page(error: OAuth2Error, status: int = 400, reason: str | None = None) -> Response:
    """An error that must not go back to the client (unknown client, unregistered redirect
    URI, tampered hint): a page, never a redirect. It gives the error code and the reason in
    the reader's language; a description without a translation (or the library's detail
    beside ``reason``) stays behind a "Details" disclosure."""
    description = error.description or ""
    translated = reason or page_reason(description)
    detail = description if description and (reason or translated is None) else ""
    resp = make_response(
        render_template(
            "errors/oauth.html",
            oauth_error=error.error,
            reason=translated or "",
            detail=detail,
        ),
        status,
    )
    return resp
