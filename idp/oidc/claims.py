"""amr and acr (RFC 8176, OIDC Core 2; SPEC T1) and the user claims per scope."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from authlib.oauth2.rfc6749 import scope_to_list
from authlib.oidc.core import UserInfo

from ..models import User

#: RFC 8176 has no value for a single-use recovery code; this product uses ``backup_code``
#: (listed as ``amr_values_supported`` in discovery and documented in the README).
AMR_BACKUP_CODE = "backup_code"
AMR_PASSWORD = ["pwd"]
AMR_TOTP = ["pwd", "otp", "mfa"]
AMR_BACKUP = ["pwd", "mfa", AMR_BACKUP_CODE]
AMR_VALUES = ["pwd", "otp", "mfa", AMR_BACKUP_CODE]

PAPE_MFA = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"
ACR_VALUES = ["1", "2", PAPE_MFA]


def assurance_level(amr: list[str]) -> int:
    return 2 if "mfa" in amr else 1


def acr_for(amr: list[str], requested: str | None = None) -> str:
    """The acr for a sign-in: Keycloak's levels ("1" password, "2" two factors). A request
    for the PAPE multi-factor policy is honoured as level 2 and echoed back."""
    level = assurance_level(amr)
    if level >= 2 and requested and PAPE_MFA in requested.split():
        return PAPE_MFA
    return str(level)


def requested_level(acr_values: str | None) -> int:
    """The level an ``acr_values`` request asks for (0 when it asks for nothing known)."""
    level = 0
    for value in (acr_values or "").split():
        if value == PAPE_MFA or value == "2":
            level = max(level, 2)
        elif value == "1":
            level = max(level, 1)
    return level


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
        # The provider sends no verification mail: the address counts as verified only when
        # an admin or the operator said so.
        info["email_verified"] = bool(user.email_verified)
    return info
