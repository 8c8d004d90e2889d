"""Our own checks of an authorization request (OIDC Core 3.1.2.1), as an Authlib grant
extension, beside ``CodeChallenge`` and ``OpenIDCode``: Authlib checks the client, the
redirect URI, the response type, the scope, PKCE, the nonce and ``prompt``, then these run,
in the same validation (``validate_consent_request``). So an authorization request is
checked in one place, once, whether it arrives at the authorization endpoint or resumes
after the sign-in.

Every error here goes back to the client (its redirect URI is established by then), with
``state`` (Authlib's ``get_consent_grant`` adds it).

Pushed authorization requests (RFC 9126) plug in beside this module:

- a ``par`` row in ``oidc/endpoint_table.py`` (the commented one) and its view;
- an Authlib endpoint that authenticates the client, validates the pushed parameters with the
  same grant (so these checks run on them when they are pushed) and stores them under
  ``urn:ietf:params:oauth:request_uri:<random>`` for a short time;
- a server hook for ``before_get_authorization_grant``, registered in
  ``server.init_server`` (where the comment is; Authlib's RFC 9101
  ``JWTAuthenticationRequest`` hooks in the same way): it replaces the request's payload
  with the pushed one when ``request_uri`` names one of the client's, unexpired and unused,
  so everything after it, these checks included, sees an ordinary request;
- ``request_uri`` then leaves ``UNSUPPORTED_PARAMETERS``.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749.errors import (
    AccessDeniedError,
    InvalidRequestError,
    OAuth2Error,
)
from authlib.oidc.core.errors import (
    RegistrationNotSupportedError,
    RequestNotSupportedError,
    RequestURINotSupportedError,
)

from ..assurance import ACR_VALUES, essential_acr, essential_acr_unsatisfiable
from .context import RESPONSE_MODES

#: Longest accepted value per parameter (the stored columns' sizes, and sane bounds).
PARAMETER_LIMITS = {
    "nonce": 255,
    "state": 2000,
    "login_hint": 320,
    "acr_values": 1000,
    "ui_locales": 200,
    "max_age": 10,
    "claims": 4000,
    "id_token_hint": 8000,
}

#: Request objects and dynamic registration are not offered (OIDC Core 6 and 3.1.2.6): such
#: a request gets its own error rather than having the parameter ignored.
UNSUPPORTED_PARAMETERS: tuple[tuple[str, type[OAuth2Error]], ...] = (
    ("request", RequestNotSupportedError),
    ("request_uri", RequestURINotSupportedError),  # RFC 9126 would take it (module docstring)
    ("registration", RegistrationNotSupportedError),
)


def parameter_problem(data: Any) -> str | None:
    """What is wrong with the request's own parameters (lengths, ``max_age``, ``claims``,
    ``response_mode``), as an ``error_description``; None when nothing is."""
    for name, limit in PARAMETER_LIMITS.items():
        value = data.get(name)
        if value is not None and len(value) > limit:
            return f"'{name}' is longer than {limit} characters."
    max_age = data.get("max_age")
    if max_age is not None and not (max_age.isascii() and max_age.isdigit()):
        return "'max_age' must be a non-negative integer."
    try:
        essential_acr(data.get("claims"))
    except ValueError as exc:
        return str(exc)
    mode = data.get("response_mode")
    if mode is not None and mode not in RESPONSE_MODES:
        return f"Unsupported 'response_mode'; supported: {', '.join(RESPONSE_MODES)}."
    return None


def check_authorization_request(grant: Any, redirect_uri: str) -> None:
    """The checks, in order: the parameters, the features not offered, an essential ``acr``
    no sign-in can meet. Raises the first error, addressed to ``redirect_uri``."""
    data = grant.request.payload.data
    problem = parameter_problem(data)
    if problem:
        raise InvalidRequestError(problem, redirect_uri=redirect_uri)
    for name, error_cls in UNSUPPORTED_PARAMETERS:
        if data.get(name) is not None:
            raise error_cls(redirect_uri=redirect_uri)
    if essential_acr_unsatisfiable(essential_acr(data.get("claims"))):
        # SPEC V4: refused before any sign-in, as the failed authentication OIDC Core
        # 5.5.1.1 asks for. access_denied (RFC 6749) rather than OpenID's
        # unmet_authentication_requirements: strict relying parties such as pyoidc refuse
        # an error code outside RFC 6749 and OIDC Core as a "faulty response".
        raise AccessDeniedError(
            "None of the essential 'acr' values can be met; this provider issues "
            f"{', '.join(ACR_VALUES)}.",
            redirect_uri=redirect_uri,
        )


class AuthorizationRequestChecks:
    """The grant extension: ``register_grant(AuthorizationCodeGrant, [..., OpenIDCode(),
    AuthorizationRequestChecks()])``. Registered last, it runs after Authlib's checks and
    ``OpenIDCode``'s ``prompt`` check (our grant runs hooks in the order they were
    registered)."""

    def __call__(self, grant: Any) -> None:
        grant.register_hook("after_validate_consent_request", check_authorization_request)
