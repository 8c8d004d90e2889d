from __future__ import annotations

import hmac
from datetime import datetime
from hashlib import sha256
from typing import Any

from authlib.oauth2.rfc6749 import ClientMixin, list_to_scope, scope_to_list
from sqlalchemy import JSON, Boolean, ForeignKey, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime, utcnow


class Client(Base, ClientMixin):
    """A relying party. Confidential clients hold a secret stored as a SHA-256 digest."""

    __tablename__ = "client"
    __table_args__ = (UniqueConstraint("realm_id", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    realm_id: Mapped[int] = mapped_column(ForeignKey("realm.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(200))
    secret_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    grant_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: Every sign-in for this client needs a second factor; users without one enrol first
    #: (SPEC P3).
    require_2fa: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: A resource server (an API) may introspect every token of its realm; any other client
    #: only its own (RFC 7662 section 4).
    resource_server: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: OpenID Connect Back-Channel Logout 1.0: where the provider POSTs a logout token when a
    #: session this client received tokens in ends; None: the client is not told.
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    #: The client wants ``sid`` in its logout tokens (it is always there: see
    #: ``idp.services.logout``).
    backchannel_logout_session_required: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    #: OpenID Connect Front-Channel Logout 1.0: the page the signed-out page loads in a hidden
    #: iframe; with ``frontchannel_logout_session_required`` it gets ``iss`` and ``sid``.
    frontchannel_logout_uri: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    frontchannel_logout_session_required: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    # -- Authlib ClientMixin ----------------------------------------------------------------
    @property
    def client_metadata(self) -> dict[str, Any]:
        return {
            "post_logout_redirect_uris": list(self.post_logout_redirect_uris or []),
            "redirect_uris": list(self.redirect_uris or []),
        }

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # OAuth 2.0 Security BCP: no default; the request must name a registered URI.
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return ""
        allowed = set(self.scopes or [])
        granted: str = list_to_scope([s for s in scope_to_list(scope) if s in allowed])
        return granted

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in (self.redirect_uris or [])

    def check_client_secret(self, client_secret: str) -> bool:
        if self.public or not self.secret_digest or not isinstance(client_secret, str):
            return False
        digest = sha256(client_secret.encode()).hexdigest()
        return hmac.compare_digest(digest, self.secret_digest)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.public:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in (self.grant_types or [])

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in (self.grant_types or [])

    @property
    def token_endpoint_auth_method(self) -> str:
        return "none" if self.public else "client_secret_basic"
