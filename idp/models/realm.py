from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, text
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime, utcnow


class Realm(Base):
    """A tenant: every user, client, signing key and audit event belongs to one."""

    __tablename__ = "realm"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    # -- sign-in policy (SPEC section 6) -----------------------------------------------------
    #: Who must have a second factor: ``none``, ``admins`` or ``all`` (SPEC P1).
    require_2fa: Mapped[str] = mapped_column(String(16), default="none", server_default="none")
    #: When ``require_2fa`` last changed to cover more users; the grace period counts from it.
    require_2fa_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: Days a covered user may postpone enrolment ("Later"), from the policy taking effect or
    #: the account's creation, whichever is later (SPEC P2). 0: no postponing.
    grace_days: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    #: "Trust this browser for N days" on the code page (SPEC P8); 0 turns it off.
    trust_browser_days: Mapped[int] = mapped_column(default=0, server_default=text("0"))
