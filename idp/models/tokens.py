from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime, utcnow


class AuthorizationCode(Base):
    __tablename__ = "authorization_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    realm_id: Mapped[int] = mapped_column(ForeignKey("realm.id", ondelete="CASCADE"), index=True)
    code_digest: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("client.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text, default="")
    nonce: Mapped[str | None] = mapped_column(String(255), nullable=True)
    code_challenge: Mapped[str | None] = mapped_column(String(128), nullable=True)
    code_challenge_method: Mapped[str | None] = mapped_column(String(16), nullable=True)
    auth_time: Mapped[int] = mapped_column()
    amr: Mapped[list[str]] = mapped_column(JSON, default=list)
    acr: Mapped[str] = mapped_column(String(200))
    sid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    # -- Authlib AuthorizationCodeMixin (OIDC flavour) ---------------------------------------
    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_amr(self) -> list[str]:
        return list(self.amr or [])

    def get_acr(self) -> str:
        return self.acr

    def is_expired(self) -> bool:
        return self.expires_at <= utcnow()


class Token(Base):
    """An issued access token (and its refresh token, if any).

    Tokens are stored as SHA-256 digests. ``family_id`` links every token rotated from one
    authorization, so reuse of a spent refresh token revokes the whole family.
    """

    __tablename__ = "token"

    id: Mapped[int] = mapped_column(primary_key=True)
    realm_id: Mapped[int] = mapped_column(ForeignKey("realm.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("client.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True, nullable=True
    )
    access_digest: Mapped[str] = mapped_column(String(64), unique=True)
    refresh_digest: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    jti: Mapped[str] = mapped_column(String(64), index=True)
    scope: Mapped[str] = mapped_column(Text, default="")
    family_id: Mapped[str] = mapped_column(String(64), index=True)
    code_id: Mapped[int | None] = mapped_column(
        ForeignKey("authorization_code.id", ondelete="SET NULL"), index=True, nullable=True
    )
    sid: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    auth_time: Mapped[int | None] = mapped_column(nullable=True)
    amr: Mapped[list[str]] = mapped_column(JSON, default=list)
    acr: Mapped[str | None] = mapped_column(String(200), nullable=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    access_expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    refresh_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: Set when the refresh token was exchanged for a new one (a later use is a replay).
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    # -- Authlib TokenMixin ------------------------------------------------------------------
    def check_client(self, client: Any) -> bool:
        return bool(client is not None and client.id == self.client_id)

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return max(0, int((self.access_expires_at - self.issued_at).total_seconds()))

    def is_expired(self) -> bool:
        return self.access_expires_at <= utcnow()

    def is_refresh_token_expired(self) -> bool:
        return self.refresh_expires_at is None or self.refresh_expires_at <= utcnow()

    def is_revoked(self) -> bool:
        return self.revoked_at is not None
