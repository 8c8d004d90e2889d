from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, String, text, true
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
    #: "Sign in with a passkey" on the sign-in page (issue 10): a discoverable credential
    #: with user verification signs in without the password. Off: the page does not offer
    #: it and a posted passkey assertion is refused; keys after the password still work.
    passkey_sign_in: Mapped[bool] = mapped_column(default=True, server_default=true())

    # -- pages (SPEC section 8, branding) -----------------------------------------------------
    #: Language of the pages when neither the request, the switch nor the browser picks one.
    default_locale: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    #: ``#rrggbb`` for links, buttons and focus rings; None: the built-in blue. Checked for
    #: WCAG AA contrast against white when set.
    accent_color: Mapped[str | None] = mapped_column(String(7), nullable=True)
    #: The realm's logo, uploaded in the console or by the CLI (type and size checked).
    logo: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, deferred=True)
    logo_content_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
