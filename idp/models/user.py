from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime, utcnow


class User(Base):
    __tablename__ = "user_account"
    __table_args__ = (UniqueConstraint("realm_id", "email_normalized"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    realm_id: Mapped[int] = mapped_column(ForeignKey("realm.id", ondelete="CASCADE"), index=True)
    #: Stable, opaque subject identifier (never the email or the row id).
    sub: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(320))
    email_normalized: Mapped[str] = mapped_column(String(320))
    #: True once the user followed a verification or invitation link sent to this address,
    #: or an admin or the operator vouched for it (Keycloak's "Email verified"); a change of
    #: address makes it false again. Released as the ``email_verified`` claim.
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: Bumped by every change that ends the user's sessions (password set by anyone, 2FA
    #: reset or disabled, account disabled): a sign-in in progress recorded the value when it
    #: identified the user, and one whose value is older cannot go on (SPEC V1).
    credential_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: The language the user last used the pages in; mail to the user is written in it
    #: (None: the realm's default language).
    locale: Mapped[str | None] = mapped_column(String(8), nullable=True)

    def get_user_id(self) -> str:
        return self.sub
