"""The protocol's endpoints, those a relying party or resource server is told about, declared
once (node-oidc-provider's route table, ``lib/helpers/defaults.js``, from which its router,
discovery and CORS are built). The resume endpoint, which only our own pages redirect to,
is an ordinary route of ``web/protocol.py``.

A row says where an endpoint lives under ``/realms/<realm>``, which methods it takes and how
it is served. Everything else is built from these rows, so the endpoint is named nowhere else:

- the routes: ``web/protocol.py`` binds each view with ``@endpoint("<name>")``, and refuses to
  start when a row has no view;
- discovery: ``discovery_key`` is the metadata name under which ``oidc/discovery.py``
  advertises the endpoint's URL (OpenID Connect Discovery 1.0 section 3);
- CORS: ``cors`` says which origins a browser app may call it from (the blueprint answers the
  preflight and adds the headers, the fast path copies them);
- CSRF: ``csrf_exempt`` endpoints take POSTs from relying parties, not from our forms;
- machine endpoints (``machine``): the realm comes from the process cache (``idp.cache``,
  served while the database is down), and errors answer JSON (``web/failures.py``);
- the fast path: ``fast_path`` documents are answered before Flask (``idp/well_known.py``).

Adding an endpoint is adding a row here and a view with ``@endpoint("<name>")``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum


class Cors(Enum):
    """Which cross-origin callers an endpoint answers (Fetch standard, CORS protocol)."""

    #: Same-origin only: no CORS headers (pages, and endpoints only servers call).
    NONE = "none"
    #: The origins of the realm's registered redirect URIs, as Keycloak's "web origins":
    #: browser apps (public clients) redeem codes and call UserInfo from there. A preflight
    #: (``OPTIONS``) is answered 204.
    REGISTERED_ORIGINS = "registered"
    #: Any origin (``Access-Control-Allow-Origin: *``): public documents.
    ANY_ORIGIN = "any"


@dataclass(frozen=True)
class ProtocolEndpoint:
    """One endpoint of a realm (see the module's docstring for what each field drives)."""

    #: The Flask endpoint under the ``protocol`` blueprint, and the view's name.
    name: str
    #: The path under ``/realms/<realm>``.
    path: str
    methods: tuple[str, ...]
    discovery_key: str | None = None
    cors: Cors = Cors.NONE
    csrf_exempt: bool = False
    machine: bool = False
    fast_path: bool = False

    @property
    def flask_endpoint(self) -> str:
        return f"protocol.{self.name}"


_OIDC = "/protocol/openid-connect"

#: In discovery's order (the document keeps the order of its keys).
ENDPOINTS: tuple[ProtocolEndpoint, ...] = (
    # OIDC Core 3.1.2. A browser's GET or a relying party's form POST (3.1.2.1): no CSRF token.
    ProtocolEndpoint(
        "authorize",
        f"{_OIDC}/auth",
        ("GET", "POST"),
        discovery_key="authorization_endpoint",
        csrf_exempt=True,
    ),
    # RFC 6749 3.2.
    ProtocolEndpoint(
        "token",
        f"{_OIDC}/token",
        ("POST",),
        discovery_key="token_endpoint",
        cors=Cors.REGISTERED_ORIGINS,
        csrf_exempt=True,
        machine=True,
    ),
    # OIDC Core 5.3.
    ProtocolEndpoint(
        "userinfo",
        f"{_OIDC}/userinfo",
        ("GET", "POST"),
        discovery_key="userinfo_endpoint",
        cors=Cors.REGISTERED_ORIGINS,
        csrf_exempt=True,
        machine=True,
    ),
    # RFC 7517 5 (the JWKS).
    ProtocolEndpoint(
        "jwks",
        f"{_OIDC}/certs",
        ("GET",),
        discovery_key="jwks_uri",
        cors=Cors.ANY_ORIGIN,
        machine=True,
        fast_path=True,
    ),
    # RP-Initiated Logout 1.0. A relying party's GET or POST; the view asks for the CSRF token
    # itself when it acts on the user's confirmation.
    ProtocolEndpoint(
        "logout",
        f"{_OIDC}/logout",
        ("GET", "POST"),
        discovery_key="end_session_endpoint",
        csrf_exempt=True,
    ),
    # RFC 7009.
    ProtocolEndpoint(
        "revoke",
        f"{_OIDC}/revoke",
        ("POST",),
        discovery_key="revocation_endpoint",
        cors=Cors.REGISTERED_ORIGINS,
        csrf_exempt=True,
        machine=True,
    ),
    # RFC 7662: resource servers call it, never a browser.
    ProtocolEndpoint(
        "introspect",
        f"{_OIDC}/token/introspect",
        ("POST",),
        discovery_key="introspection_endpoint",
        csrf_exempt=True,
        machine=True,
    ),
    # -- RFC 9126, pushed authorization requests, would be declared here: ------------------
    # ProtocolEndpoint(
    #     "par",
    #     f"{_OIDC}/ext/par/request",  # Keycloak's path
    #     ("POST",),
    #     discovery_key="pushed_authorization_request_endpoint",
    #     csrf_exempt=True,
    #     machine=True,
    # ),
    # with its view (``create_endpoint_response("pushed_authorization_request")``) and the
    # authorization endpoint taking its ``request_uri``: see ``oidc/authorization_request.py``.
    # OpenID Connect Discovery 1.0 section 4 (it does not list itself).
    ProtocolEndpoint(
        "discovery",
        "/.well-known/openid-configuration",
        ("GET",),
        cors=Cors.ANY_ORIGIN,
        machine=True,
        fast_path=True,
    ),
)

BY_NAME: dict[str, ProtocolEndpoint] = {e.name: e for e in ENDPOINTS}
BY_FLASK_ENDPOINT: dict[str, ProtocolEndpoint] = {e.flask_endpoint: e for e in ENDPOINTS}


def declared(flask_endpoint: str | None) -> ProtocolEndpoint | None:
    """The row of a request's Flask endpoint (``request.endpoint``), if it is one."""
    return BY_FLASK_ENDPOINT.get(flask_endpoint or "")


def realm_path_pattern(
    rows: tuple[ProtocolEndpoint, ...], *, trailing_slash: bool = False
) -> re.Pattern[str]:
    """A pattern of the rows' full paths, ``/realms/<realm><path>``: group 1 is the realm,
    group 2 the path without its first slash."""
    paths = "|".join(re.escape(e.path.lstrip("/")) for e in rows)
    return re.compile(rf"^/realms/([^/]+)/({paths}){'/?' if trailing_slash else ''}$")


MACHINE_ENDPOINTS = tuple(e for e in ENDPOINTS if e.machine)
FAST_PATH_ENDPOINTS = tuple(e for e in ENDPOINTS if e.fast_path)
#: The paths of the machine endpoints (their errors answer JSON), with or without a trailing
#: slash (which Flask answers with a 404 or 405).
MACHINE_PATHS = realm_path_pattern(MACHINE_ENDPOINTS, trailing_slash=True)
