"""Relying-party clients. Secrets: 256 random bits, shown once, stored as SHA-256."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..cache import process_cache
from ..models import Client, Realm
from .audit import record_event
from .crypto import digest, random_token
from .errors import AlreadyExists, InvalidInput, NotFound
from .names import check_name

DEFAULT_SCOPES = ["openid", "profile", "email", "offline_access"]


@dataclass
class NewClient:
    client: Client
    client_secret: str | None


def _check_uri(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
        raise InvalidInput(f"not an absolute http(s) URI without fragment: {uri!r}")
    return uri


class InvalidLogoutSetting(InvalidInput):
    """A logout setting (``setting``: one of ``LOGOUT_SETTINGS``) that was refused; the
    message says why."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(message)
        self.setting = setting


def _check_logout_uri(uri: str | None) -> str | None:
    """A logout URI (Back-/Front-Channel Logout 1.0: absolute, http(s), no fragment), or None
    for an empty value (no URI)."""
    if uri is None or not uri.strip():
        return None
    uri = uri.strip()
    if len(uri) > 2000 or any(ord(c) < 0x21 or ord(c) == 0x7F for c in uri):
        raise InvalidInput(f"not a usable URI: {uri[:100]!r}")
    return _check_uri(uri)


def _origin(uri: str) -> tuple[str, str, int | None]:
    parts = urlsplit(uri)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, (parts.hostname or "").lower(), port


def _check_frontchannel_uri(uri: str | None, redirect_uris: list[str]) -> str | None:
    """Front-Channel Logout 1.0, section 2: the URI's scheme, host and port are those of a
    registered redirect URI (the application's own pages, in the browser)."""
    uri = _check_logout_uri(uri)
    if uri is not None and _origin(uri) not in {_origin(u) for u in redirect_uris}:
        raise InvalidInput(
            f"the front-channel logout URI {uri!r} must have the scheme, host and port of "
            "one of the client's redirect URIs"
        )
    return uri


def new_client_id() -> str:
    """A random client_id (128 bits) that never starts with ``-``, so that it can be given to
    the ``idp`` command (and other command lines) without being read as an option."""
    while True:
        client_id = random_token(16)
        if not client_id.startswith("-"):
            return client_id


def create_client(
    db: Session,
    realm: Realm,
    name: str,
    redirect_uris: list[str],
    *,
    public: bool = False,
    post_logout_redirect_uris: list[str] | None = None,
    scopes: list[str] | None = None,
    grant_types: list[str] | None = None,
    client_id: str | None = None,
    require_2fa: bool = False,
    resource_server: bool = False,
    backchannel_logout_uri: str | None = None,
    backchannel_logout_session_required: bool = False,
    frontchannel_logout_uri: str | None = None,
    frontchannel_logout_session_required: bool = False,
) -> NewClient:
    name = check_name(name, required=True)
    redirect_uris = [_check_uri(u) for u in redirect_uris]
    post_logout = [_check_uri(u) for u in (post_logout_redirect_uris or [])]
    backchannel_logout_uri = _check_logout_uri(backchannel_logout_uri)
    frontchannel_logout_uri = _check_frontchannel_uri(frontchannel_logout_uri, redirect_uris)
    if grant_types is None:
        grant_types = ["authorization_code", "refresh_token"]
        if not public:
            grant_types.append("client_credentials")
    if public and resource_server:
        raise InvalidInput("a public client cannot be a resource server")
    if public and "client_credentials" in grant_types:
        raise InvalidInput("a public client cannot use client_credentials")
    if "authorization_code" in grant_types and not redirect_uris:
        raise InvalidInput("the authorization_code grant needs at least one redirect URI")
    client_id = client_id or new_client_id()
    if find_client(db, realm, client_id):
        raise AlreadyExists(f"client {client_id} exists")
    secret = None if public else random_token(32)
    client = Client(
        realm_id=realm.id,
        client_id=client_id,
        name=name,
        public=public,
        secret_digest=digest(secret) if secret else None,
        redirect_uris=redirect_uris,
        post_logout_redirect_uris=post_logout,
        scopes=scopes or list(DEFAULT_SCOPES),
        grant_types=grant_types,
        require_2fa=require_2fa,
        resource_server=resource_server,
        backchannel_logout_uri=backchannel_logout_uri,
        backchannel_logout_session_required=bool(backchannel_logout_session_required),
        frontchannel_logout_uri=frontchannel_logout_uri,
        frontchannel_logout_session_required=bool(frontchannel_logout_session_required),
    )
    db.add(client)
    db.flush()
    return NewClient(client, secret)


def find_client(db: Session, realm: Realm | int, client_id: str) -> Client | None:
    realm_id = realm if isinstance(realm, int) else realm.id
    if not isinstance(client_id, str) or len(client_id) > 128 or "\x00" in client_id:
        return None
    return db.scalar(
        select(Client).where(Client.realm_id == realm_id, Client.client_id == client_id)
    )


_CLIENT_COLUMNS = tuple(Client.__table__.columns)


def cached_client(db: Session, realm_id: int, client_id: str) -> Client | None:
    """The client ``client_id`` of the realm from the process cache (``idp.cache``), for the
    protocol endpoints that authenticate clients: its row is read again at most every
    ``IDP_KEY_CACHE_SECONDS``, so a client removed, changed or given a new secret by the
    CLI or the console is seen within that period. Unlike realms, a client is not served
    stale while the database is unavailable (the error is raised), so a removed client
    never authenticates after the period. The value is a detached copy of the row
    (never added to a session; read it, don't change it). None when there is no such
    client (unknown ids are not cached)."""
    if not isinstance(client_id, str) or len(client_id) > 128 or "\x00" in client_id:
        return None

    def fetch() -> tuple[Any, Any]:
        row = db.execute(
            select(*_CLIENT_COLUMNS).where(
                Client.realm_id == realm_id, Client.client_id == client_id
            )
        ).one_or_none()
        return (tuple(row) if row is not None else None), row

    def build(row: Any, _previous: Client | None) -> Client:
        return Client(**row._asdict())

    return process_cache("clients").get((realm_id, client_id), fetch, build, stale_if_error=False)


def list_clients(db: Session, realm: Realm) -> list[Client]:
    return list(db.scalars(select(Client).where(Client.realm_id == realm.id).order_by(Client.id)))


def any_client_requires_2fa(db: Session, realm: Realm) -> bool:
    """Whether some client of the realm requires a second factor of its users (SPEC P3)."""
    return (
        db.scalar(
            select(Client.id)
            .where(Client.realm_id == realm.id, Client.require_2fa.is_(True))
            .limit(1)
        )
        is not None
    )


def set_client_require_2fa(
    db: Session, client: Client, value: bool, *, actor: str, client_address: str | None
) -> bool:
    """Whether every sign-in for this client needs a second factor (SPEC P3); audited as
    ``admin.client.policy_changed`` when it changes. Returns whether it changed. The caller
    commits."""
    if not isinstance(value, bool):
        raise InvalidInput("require_2fa is true or false")
    return _set_flag(db, client, "require_2fa", value, actor=actor, client_address=client_address)


def set_client_resource_server(
    db: Session, client: Client, value: bool, *, actor: str, client_address: str | None
) -> bool:
    """Whether the client is a resource server, which may introspect every token of the
    realm rather than only its own (RFC 7662 section 4). Only a confidential client can be
    one. Audited as ``admin.client.policy_changed`` when it changes; returns whether it
    changed. The caller commits."""
    if not isinstance(value, bool):
        raise InvalidInput("resource_server is true or false")
    if value and client.public:
        raise InvalidInput("a public client cannot be a resource server")
    return _set_flag(
        db, client, "resource_server", value, actor=actor, client_address=client_address
    )


#: The logout settings of a client (OpenID Connect Back- and Front-Channel Logout 1.0), as
#: its registration metadata names them.
LOGOUT_SETTINGS = (
    "backchannel_logout_uri",
    "backchannel_logout_session_required",
    "frontchannel_logout_uri",
    "frontchannel_logout_session_required",
)


def set_client_logout(
    db: Session,
    client: Client,
    changes: dict[str, Any],
    *,
    actor: str,
    client_address: str | None,
) -> bool:
    """Change some of the client's logout settings (``LOGOUT_SETTINGS``: a URI, empty or
    None for none; a boolean); ``InvalidLogoutSetting`` names the one refused. Audited as
    ``admin.client.policy_changed`` with the old and new values; returns whether anything
    changed. The caller commits."""
    unknown = set(changes) - set(LOGOUT_SETTINGS)
    if unknown:
        raise InvalidInput(f"not a logout setting: {', '.join(sorted(unknown))}")
    new: dict[str, Any] = {}
    for name, value in changes.items():
        try:
            if name.endswith("_session_required"):
                if not isinstance(value, bool):
                    raise InvalidInput(f"{name} is true or false")
                new[name] = value
            elif name == "frontchannel_logout_uri":
                new[name] = _check_frontchannel_uri(value, list(client.redirect_uris or []))
            else:
                new[name] = _check_logout_uri(value)
        except InvalidInput as exc:
            raise InvalidLogoutSetting(name, str(exc)) from None
    old = {name: getattr(client, name) for name in new if getattr(client, name) != new[name]}
    if not old:
        return False
    for name in old:
        setattr(client, name, new[name])
    event = record_event(
        db,
        client.realm_id,
        "admin.client.policy_changed",
        actor=actor,
        client_address=client_address,
        detail={
            "client_id": client.client_id,
            "old": old,
            "new": {name: new[name] for name in old},
        },
    )
    event.subject = f"client:{client.client_id}"
    return True


def _set_flag(
    db: Session, client: Client, name: str, value: bool, *, actor: str, client_address: str | None
) -> bool:
    old = getattr(client, name)
    if old == value:
        return False
    setattr(client, name, value)
    event = record_event(
        db,
        client.realm_id,
        "admin.client.policy_changed",
        actor=actor,
        client_address=client_address,
        detail={"client_id": client.client_id, "old": {name: old}, "new": {name: value}},
    )
    # The audit log's subject column names what was acted on; here a client, not a user.
    event.subject = f"client:{client.client_id}"
    return True


def remove_client(db: Session, realm: Realm, client_id: str) -> None:
    client = find_client(db, realm, client_id)
    if client is None:
        raise NotFound(f"no client {client_id}")
    db.delete(client)


def allowed_origins(db: Session, realm: Realm) -> set[str]:
    """Origins of the realm's registered redirect URIs (for CORS on the token endpoint)."""
    origins: set[str] = set()
    for uris in db.scalars(select(Client.redirect_uris).where(Client.realm_id == realm.id)):
        for uri in uris or []:
            parts = urlsplit(uri)
            origins.add(f"{parts.scheme}://{parts.netloc}")
    return origins
