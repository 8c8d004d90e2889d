"""The signed-in user as the protocol sees it, and the user claims per scope. The amr/acr
vocabulary is ``idp.assurance``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from authlib.oauth2.rfc6749 import scope_to_list
from authlib.oidc.core import UserInfo

from ..models import User


@dataclass
class Principal:
    """The signed-in user as the protocol sees it: who, how and when (the grant user)."""

    user: User
    amr: list[str]
    auth_time: int
    sid: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def get_user_id(self) -> str:
        return self.user.sub


def user_claims(user: User, scope: str | None) -> UserInfo:
    scopes = set(scope_to_list(scope or "") or [])
    info = UserInfo(sub=user.sub)
    if "profile" in scopes:
        info["name"] = user.display_name
        info["preferred_username"] = user.email
    if "email" in scopes:
        info["email"] = user.email
        # Verified once the user followed a verification link (or a reset or invitation
        # link sent to the address), or when an admin or the operator vouched for it.
        info["email_verified"] = bool(user.email_verified)
    return info
