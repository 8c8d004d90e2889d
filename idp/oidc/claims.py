"""amr and acr (RFC 8176, OIDC Core 2; SPEC T1) and the user claims per scope."""

from __future__ import annotations

import json
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
#: A security key as second factor (issue 10): ``hwk`` (proof of possession of a hardware
#: key, RFC 8176 section 2) and ``mfa``, plus ``user`` only when the authenticator reported
#: user verification (its PIN or biometric; WebAuthn does not say which).
AMR_SECURITY_KEY = ["pwd", "hwk", "mfa"]
AMR_VALUES = ["pwd", "otp", "hwk", "user", "mfa", AMR_BACKUP_CODE, "trusted_browser"]

#: A trusted browser stood in for the code (SPEC P8): no code was typed, so no ``otp``.
AMR_TRUSTED_BROWSER = "trusted_browser"
AMR_TRUSTED = ["pwd", "mfa", AMR_TRUSTED_BROWSER]

#: The order of the values in tokens (SPEC T1's table).
AMR_ORDER = ("pwd", "otp", "hwk", "user", "mfa", AMR_BACKUP_CODE, AMR_TRUSTED_BROWSER)


def ordered_amr(amr: list[str]) -> list[str]:
    rank = {value: i for i, value in enumerate(AMR_ORDER)}
    return sorted(dict.fromkeys(amr), key=lambda v: rank.get(v, len(rank)))


PAPE_MFA = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"
ACR_VALUES = ["1", "2", PAPE_MFA]


def assurance_level(amr: list[str]) -> int:
    return 2 if "mfa" in amr else 1


def acr_for(amr: list[str], requested: str | None = None, essential: tuple[str, ...] = ()) -> str:
    """The acr for a sign-in: Keycloak's levels ("1" password, "2" two factors). A request
    for the PAPE multi-factor policy (in ``acr_values`` or an essential ``acr``) is honoured
    as level 2 and echoed back."""
    level = assurance_level(amr)
    asked = [*(requested or "").split(), *essential]
    if level >= 2 and PAPE_MFA in asked:
        return PAPE_MFA
    return str(level)


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


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _acr_values(acr: dict[str, Any]) -> list[str]:
    """The values an ``acr`` request member names (OIDC Core 5.5.1: ``value`` or
    ``values``, one or the other). Raises ValueError for any other shape: a malformed
    member must not pass for one that asks nothing (SPEC V4)."""
    essential = acr.get("essential")
    if essential is not None and not isinstance(essential, bool):
        raise ValueError("'claims' member 'acr': 'essential' must be true or false.")
    if "value" in acr and "values" in acr:
        raise ValueError("'claims' member 'acr' has both 'value' and 'values'; send one.")
    if "value" in acr:
        if not isinstance(acr["value"], str):
            raise ValueError("'claims' member 'acr': 'value' must be a string.")
        return [acr["value"]]
    listed = acr.get("values")
    if listed is None:
        return []
    if not isinstance(listed, list) or not all(isinstance(v, str) for v in listed):
        raise ValueError("'claims' member 'acr': 'values' must be a list of strings.")
    return listed


def essential_acr(claims_parameter: str | None) -> tuple[str, ...]:
    """The values of an essential ``acr`` in the ``claims`` request parameter (OIDC Core
    5.5.1.1), from its ``id_token`` or ``userinfo`` member; () when none is essential.
    Raises ValueError for a parameter that is not a JSON object of objects, and for an
    ``acr`` member of any shape but OIDC Core 5.5.1's (``_acr_values``)."""
    if claims_parameter is None:
        return ()
    try:
        data = json.loads(claims_parameter, parse_constant=_not_json)
    except (ValueError, RecursionError) as exc:
        raise ValueError("'claims' is not valid JSON.") from exc
    if not isinstance(data, dict):
        raise ValueError("'claims' must be a JSON object.")
    values: list[str] = []
    for member in ("id_token", "userinfo"):
        section = data.get(member)
        if section is None:
            continue
        if not isinstance(section, dict):
            raise ValueError(f"'claims.{member}' must be a JSON object.")
        acr = section.get("acr")
        if acr is None:
            continue
        if not isinstance(acr, dict):
            raise ValueError("'claims' member 'acr' must be null or a JSON object.")
        asked = _acr_values(acr)
        if acr.get("essential") is True:
            values.extend(asked)
    return tuple(dict.fromkeys(values))
