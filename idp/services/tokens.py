"""Authorization codes and tokens in the database: the SQL behind the protocol's grants and
endpoints (``idp/oidc/``).

Codes and tokens are stored as SHA-256 digests. Single use is one conditional UPDATE (a code
is consumed, a refresh token rotated, exactly once, even across processes). As every
service, these functions never commit: the caller does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.orm import Session

from ..db import claim_once, utcnow
from ..models import AuthorizationCode, Token
from .crypto import digest, random_token

#: Longest code or refresh token looked up (ours are far shorter); longer input is unknown.
MAX_CODE_LENGTH = 200
#: Longest access token looked up (a JWT of ours is well under this).
MAX_TOKEN_LENGTH = 8000

TOKEN_TYPE_HINTS = ("access_token", "refresh_token")


def _plausible(value: object, limit: int) -> bool:
    return isinstance(value, str) and 0 < len(value) <= limit


# -- authorization codes (RFC 6749 4.1) ------------------------------------------------------
def save_authorization_code(
    db: Session,
    *,
    realm_id: int,
    code: str,
    client_id: int,
    user_id: int,
    redirect_uri: str,
    scope: str,
    nonce: str | None,
    code_challenge: str | None,
    code_challenge_method: str | None,
    auth_time: int,
    amr: list[str],
    acr: str,
    sid: str | None,
    ttl: int,
) -> AuthorizationCode:
    row = AuthorizationCode(
        realm_id=realm_id,
        code_digest=digest(code),
        client_id=client_id,
        user_id=user_id,
        redirect_uri=redirect_uri,
        scope=scope,
        nonce=nonce,
        code_challenge=code_challenge,
        code_challenge_method=code_challenge_method,
        auth_time=auth_time,
        amr=amr,
        acr=acr,
        sid=sid,
        expires_at=utcnow() + timedelta(seconds=ttl),
    )
    db.add(row)
    return row


def consume_authorization_code(
    db: Session, client_id: int, code: object
) -> AuthorizationCode | None:
    """The code of this client, consumed atomically; None when it is unknown, spent or
    expired. A second use finds it spent and revokes every token the first use issued, and
    those refreshed from them (RFC 6749 4.1.2). The caller commits in every case; a caller
    that issues tokens commits them with the consumption, in one transaction, so that a
    concurrent second use (which waits for that commit) finds them to revoke."""
    if not _plausible(code, MAX_CODE_LENGTH):
        return None
    assert isinstance(code, str)
    row = db.scalar(
        select(AuthorizationCode).where(
            AuthorizationCode.code_digest == digest(code),
            AuthorizationCode.client_id == client_id,
        )
    )
    if row is None:
        return None
    if not claim_once(
        db,
        update(AuthorizationCode)
        .where(AuthorizationCode.id == row.id, AuthorizationCode.used_at.is_(None))
        .values(used_at=utcnow()),
    ):
        # The first use's tokens and every token rotated from them (their families).
        families = select(Token.family_id).where(Token.code_id == row.id)
        db.execute(
            update(Token)
            .where(Token.family_id.in_(families), Token.revoked_at.is_(None))
            .values(revoked_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        return None
    if row.is_expired():  # Authlib does not check it: an expired code is spent, refused
        return None
    return row


def nonce_used(db: Session, client_id: int, nonce: str) -> bool:
    """Whether a code of this client already carried ``nonce`` (OIDC Core 3.1.2.1)."""
    return (
        db.scalar(
            select(AuthorizationCode.id)
            .where(AuthorizationCode.client_id == client_id, AuthorizationCode.nonce == nonce)
            .limit(1)
        )
        is not None
    )


# -- tokens -------------------------------------------------------------------------------------
def record_token(
    db: Session,
    *,
    realm_id: int,
    client_id: int,
    user_id: int | None,
    access_token: str,
    refresh_token: str | None,
    jti: str,
    scope: str,
    family_id: str | None,
    code_id: int | None,
    sid: str | None,
    auth_time: int | None,
    amr: list[str],
    acr: str | None,
    expires_in: int,
    refresh_ttl: int,
) -> None:
    """Store an issued access token (and its refresh token): one INSERT, nothing read
    back. ``family_id`` is the family of the refresh token it was rotated from; a new
    family starts otherwise."""
    now = utcnow()
    db.execute(
        _INSERT_TOKEN,
        {
            "realm_id": realm_id,
            "client_id": client_id,
            "user_id": user_id,
            "access_digest": digest(access_token),
            "refresh_digest": digest(refresh_token) if refresh_token else None,
            "jti": jti,
            "scope": scope,
            "family_id": family_id or random_token(16),
            "code_id": code_id,
            "sid": sid,
            "auth_time": auth_time,
            "amr": amr,
            "acr": acr,
            "issued_at": now,
            "access_expires_at": now + timedelta(seconds=expires_in),
            "refresh_expires_at": (now + timedelta(seconds=refresh_ttl)) if refresh_token else None,
        },
    )


#: One statement built once (on the table, not the ORM entity): each token request only
#: binds its values, with no per-call statement construction or cache-key work.
_INSERT_TOKEN = insert(cast(Table, Token.__table__))


def find_refresh_token(db: Session, realm_id: int, refresh_token: object) -> Token | None:
    """The live token row of a refresh token of this realm, or None. Presenting a refresh
    token that was already rotated is a replay: its whole family is revoked."""
    if not _plausible(refresh_token, MAX_CODE_LENGTH):
        return None
    assert isinstance(refresh_token, str)
    row = db.scalar(select(Token).where(Token.refresh_digest == digest(refresh_token)))
    if row is None or row.realm_id != realm_id or row.revoked_at is not None:
        return None
    if row.rotated_at is not None:
        revoke_family(db, row.family_id)
        return None
    if row.is_refresh_token_expired():
        return None
    return row


def rotate_refresh_token(db: Session, row: Token) -> bool:
    """Mark a refresh token exchanged, once. False when another request spent it first (a
    replay): the family is then revoked."""
    if not claim_once(
        db,
        update(Token)
        .where(Token.id == row.id, Token.rotated_at.is_(None))
        .values(rotated_at=utcnow()),
    ):
        revoke_family(db, row.family_id)
        return False
    return True


def revoke_family(db: Session, family_id: str) -> None:
    """Revoke every token rotated from one authorization."""
    db.execute(
        update(Token)
        .where(Token.family_id == family_id, Token.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def find_access_token(db: Session, realm_id: int, access_token: object) -> Token | None:
    """The row of an access token of this realm (live or not), or None."""
    if not _plausible(access_token, MAX_TOKEN_LENGTH):
        return None
    assert isinstance(access_token, str)
    row = db.scalar(select(Token).where(Token.access_digest == digest(access_token)))
    return row if row is not None and row.realm_id == realm_id else None


@dataclass
class FoundToken:
    """A token row and which of its two values was presented."""

    row: Token
    is_refresh: bool


def find_any_token(
    db: Session, realm_id: int, token: object, hint: str | None
) -> FoundToken | None:
    """An access or refresh token of this realm (RFC 7009 2.1, RFC 7662 2.1): the hint
    says where to look first; the other kind is searched too."""
    if not _plausible(token, MAX_TOKEN_LENGTH):
        return None
    assert isinstance(token, str)
    d = digest(token)
    order: tuple[Any, ...] = (
        (Token.refresh_digest, Token.access_digest)
        if hint == "refresh_token"
        else (Token.access_digest, Token.refresh_digest)
    )
    for column in order:
        row = db.scalar(select(Token).where(column == d))
        if row is not None:
            if row.realm_id != realm_id:
                return None
            return FoundToken(row, is_refresh=row.refresh_digest == d)
    return None


def revoke_token(db: Session, found: FoundToken) -> None:
    """RFC 7009: revoking a refresh token revokes its whole family; revoking an access
    token revokes that token's row."""
    if found.is_refresh:
        revoke_family(db, found.row.family_id)
    else:
        found.row.revoked_at = utcnow()
