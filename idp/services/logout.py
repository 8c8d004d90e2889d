"""Single sign-out: telling the applications a session signed in to that it ended.

- **Which applications.** A client that received tokens in an SSO session (the code
  exchange records it: ``record_session_client``) signed in to that session. When the
  session ends, by any path of the one sign-out (``idp.services.sessions``), each of them is
  told, once.
- **Back-channel** (OpenID Connect Back-Channel Logout 1.0). A client with a
  ``backchannel_logout_uri`` gets a logout token POSTed there through the outbox (kind
  ``backchannel_logout``): written in the transaction that ended the session, delivered after
  it by the worker, with a short timeout, no redirect followed, and retries with back-off for
  a few minutes (``RETRIES``). The token is signed when it is sent, so that a retry carries a
  fresh ``iat``/``exp``. It always carries ``sub`` and ``sid`` (the spec allows both; with
  ``sid`` the application ends that session only, whether or not it registered
  ``backchannel_logout_session_required``).
- **Front-channel** (OpenID Connect Front-Channel Logout 1.0). ``frontchannel_urls`` is what
  the signed-out page loads in hidden iframes: each client's ``frontchannel_logout_uri``,
  with ``iss`` and ``sid`` when it registered ``frontchannel_logout_session_required``.

Session expiry tells nobody: an application learns it when its own session or tokens end.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from joserfc import jwt
from sqlalchemy import literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from .. import clock
from ..db import UTCDateTime, utcnow
from ..models import Client, OutboxMessage, Realm, SessionClient, SsoSession, User
from .callbacks import post_form
from .context import realm_issuer, settings
from .crypto import random_token
from .keys import realm_keys
from .outbox import Delivery, Retries, enqueue, register_sender

#: The outbox kind of a logout token on its way.
BACKCHANNEL = "backchannel_logout"
#: The ``events`` member of a logout token (Back-Channel Logout 1.0, section 2.4).
LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
#: The JWT ``typ`` of a logout token (section 2.4, as RFC 8725 recommends).
LOGOUT_TOKEN_TYPE = "logout+jwt"  # noqa: S105 (a media type, not a secret)
#: Seconds a logout token is valid for (``exp - iat``).
LOGOUT_TOKEN_TTL = 120
#: Back-channel retries: 10 s, 20 s, 40 s, 80 s, 160 s apart; the sixth failure is the last,
#: some five minutes after the session ended.
RETRIES = Retries(attempts=6, first=10, longest=300)


# -- which applications a session signed in to -------------------------------------------------
def record_session_client(db: Session, sid: str | None, client_row_id: int) -> None:
    """Note that the client received tokens in the session ``sid`` (idempotent): one
    ``INSERT ... SELECT`` on the token endpoint's path, nothing when there is no session."""
    if not sid:
        return
    rows = select(SsoSession.id, literal(client_row_id), literal(utcnow(), UTCDateTime()))
    rows = rows.where(SsoSession.sid == sid)
    dialect = postgresql if db.get_bind().dialect.name == "postgresql" else sqlite
    db.execute(
        dialect.insert(SessionClient)
        .from_select(["session_id", "client_id", "created_at"], rows)
        .on_conflict_do_nothing()
    )


def session_clients(db: Session, session_ids: Iterable[int]) -> dict[int, list[Client]]:
    """The clients each session (by row id) signed in to, in the order they did."""
    ids = list(session_ids)
    found: dict[int, list[Client]] = {i: [] for i in ids}
    if not ids:
        return found
    rows = db.execute(
        select(SessionClient.session_id, Client)
        .join(Client, Client.id == SessionClient.client_id)
        .where(SessionClient.session_id.in_(ids))
        .order_by(SessionClient.id)
    ).all()
    for session_id, client in rows:
        found[session_id].append(client)
    return found


@dataclass(frozen=True)
class SignedInClient:
    sid: str
    client: Client


def clients_of_sessions(db: Session, realm_id: int, sids: Iterable[str]) -> list[SignedInClient]:
    """Each (session, client) pair of the ended sessions ``sids``, the client being one of
    the session's realm (never another realm's)."""
    sids = list(sids)
    if not sids:
        return []
    rows = db.execute(
        select(SsoSession.sid, Client)
        .join(SessionClient, SessionClient.session_id == SsoSession.id)
        .join(Client, Client.id == SessionClient.client_id)
        .where(
            SsoSession.sid.in_(sids),
            SsoSession.realm_id == realm_id,
            Client.realm_id == realm_id,
        )
        .order_by(SessionClient.id)
    ).all()
    return [SignedInClient(sid, client) for sid, client in rows]


# -- back-channel -------------------------------------------------------------------------
def notify_backchannel(
    db: Session, user: User, sids: Iterable[str], *, spare_client_id: str | None = None
) -> list[OutboxMessage]:
    """Queue a logout token for each client with a back-channel URI that signed in to one
    of the ended sessions ``sids`` (in the caller's transaction). ``spare_client_id`` (a
    step-up's client, which receives new tokens for the new session in the same response)
    is not told."""
    pairs = [
        p
        for p in clients_of_sessions(db, user.realm_id, sids)
        if p.client.backchannel_logout_uri and p.client.client_id != spare_client_id
    ]
    if not pairs:
        return []
    realm = db.get(Realm, user.realm_id)
    if realm is None:
        return []
    return [
        enqueue(
            db,
            realm,
            kind=BACKCHANNEL,
            recipient=(p.client.backchannel_logout_uri or "")[:320],
            topic=p.client.client_id[:64],
            payload={"client": p.client.id, "sid": p.sid, "sub": user.sub},
            user=user,
        )
        for p in pairs
    ]


def logout_token(realm: Realm, client: Client, *, sub: str, sid: str, db: Session) -> str:
    """A signed logout token for ``client`` (Back-Channel Logout 1.0, section 2.4)."""
    keys = realm_keys(db, realm.id)
    now = int(clock.timestamp())
    claims: dict[str, Any] = {
        "iss": realm_issuer(realm),
        "aud": client.client_id,
        "iat": now,
        "exp": now + LOGOUT_TOKEN_TTL,
        "jti": random_token(16),
        "events": {LOGOUT_EVENT: {}},
        "sub": sub,
        "sid": sid,
    }
    header = {"alg": keys.active_alg, "kid": keys.active_kid, "typ": LOGOUT_TOKEN_TYPE}
    token: str = jwt.encode(header, claims, keys.active_private, algorithms=[keys.active_alg])
    return token


def prepare_backchannel(db: Session, message: OutboxMessage, payload: dict[str, Any]) -> Delivery:
    """The outbox sender of kind ``backchannel_logout``: the client's URI as registered now
    (a client removed, or whose URI was removed meanwhile, is not called); the token is
    signed when the POST is made."""
    client = db.get(Client, payload.get("client"))
    realm = db.get(Realm, message.realm_id)
    if client is None or realm is None or client.realm_id != message.realm_id:
        return lambda: "not sent: the application was removed"
    uri = client.backchannel_logout_uri
    if not uri:
        return lambda: "not sent: the application no longer has a back-channel logout URI"
    token = logout_token(realm, client, sub=str(payload["sub"]), sid=str(payload["sid"]), db=db)
    timeout = float(settings().backchannel_logout_timeout)
    return lambda: post_form(uri, {"logout_token": token}, timeout=timeout)


register_sender(BACKCHANNEL, prepare_backchannel, RETRIES)


# -- front-channel -------------------------------------------------------------------------
def frontchannel_url(client: Client, *, issuer: str, sid: str) -> str | None:
    """The URL the signed-out page loads for ``client`` (Front-Channel Logout 1.0, section
    2), or None when it registered none."""
    uri = client.frontchannel_logout_uri
    if not uri:
        return None
    if not client.frontchannel_logout_session_required:
        return uri
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [("iss", issuer), ("sid", sid)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def frontchannel_urls(db: Session, realm: Realm, sids: Iterable[str]) -> list[str]:
    """The front-channel logout URLs of every client that signed in to the ended sessions
    ``sids``, each once."""
    issuer = realm_issuer(realm)
    urls: list[str] = []
    for pair in clients_of_sessions(db, realm.id, sids):
        url = frontchannel_url(pair.client, issuer=issuer, sid=pair.sid)
        if url and url not in urls:
            urls.append(url)
    return urls
