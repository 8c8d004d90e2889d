"""The assurance vocabulary: the ``amr`` values a sign-in proves (RFC 8176), what each factor
contributes, the levels they add up to, and the ``acr`` values that name a level (OIDC Core
2, SPEC T1). A neutral module: ``interaction/``, ``oidc/`` and ``services/`` all import it,
and it imports none of them. The level of a set of ``amr`` values is computed here only
(``level_of``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

# -- amr values (RFC 8176 section 2, and this product's own two) --------------------------------

PASSWORD = "pwd"  # noqa: S105 (an amr value, not a password)
OTP = "otp"
#: Proof of possession of a hardware-bound key (a security key or passkey).
HARDWARE_KEY = "hwk"
#: The authenticator verified the user (its PIN or biometric; WebAuthn does not say which).
USER_VERIFIED = "user"
MFA = "mfa"
#: RFC 8176 has no value for a single-use recovery code; this product uses ``backup_code``
#: (listed as ``amr_values_supported`` in discovery and documented in the README).
BACKUP_CODE = "backup_code"
#: A trusted browser stood in for the code (SPEC P8): no code was typed, so no ``otp``.
TRUSTED_BROWSER = "trusted_browser"

#: Every value the provider issues, in the order tokens list them (SPEC T1's table).
AMR_VALUES: tuple[str, ...] = (
    PASSWORD,
    OTP,
    HARDWARE_KEY,
    USER_VERIFIED,
    MFA,
    BACKUP_CODE,
    TRUSTED_BROWSER,
)

# -- what each step contributes ----------------------------------------------------------------

#: Email and password.
BY_PASSWORD: tuple[str, ...] = (PASSWORD,)
#: A security code of the authenticator app.
BY_TOTP: tuple[str, ...] = (OTP, MFA)
#: A backup code in place of the second factor.
BY_BACKUP_CODE: tuple[str, ...] = (MFA, BACKUP_CODE)
#: A trusted browser in place of the second factor (SPEC P8).
BY_TRUSTED_BROWSER: tuple[str, ...] = (MFA, TRUSTED_BROWSER)


def by_security_key(user_verified: bool) -> tuple[str, ...]:
    """A security key as second factor (issue 10): ``hwk`` and ``mfa``, plus ``user`` only
    when the authenticator reported user verification."""
    return (HARDWARE_KEY, MFA, *((USER_VERIFIED,) if user_verified else ()))


#: A passkey sign-in: a hardware-bound key with user verification, no password.
BY_PASSKEY: tuple[str, ...] = (HARDWARE_KEY, USER_VERIFIED, MFA)


def ordered(amr: Iterable[str]) -> list[str]:
    """``amr`` without repeats, in the order tokens list them."""
    rank = {value: i for i, value in enumerate(AMR_VALUES)}
    return sorted(dict.fromkeys(amr), key=lambda v: rank.get(v, len(rank)))


# -- levels and acr ----------------------------------------------------------------------------

#: One factor (a password, or a passkey's user verification counted as one sign-in).
LEVEL_ONE_FACTOR = 1
#: Two factors.
LEVEL_TWO_FACTORS = 2

#: The PAPE multi-factor policy URI, honoured as level 2 and echoed back.
PAPE_MFA = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"
#: The acr values the provider issues: Keycloak's levels, and the PAPE URI.
ACR_VALUES: tuple[str, ...] = ("1", "2", PAPE_MFA)


def level_of(amr: Iterable[str]) -> int:
    """The assurance level a set of ``amr`` values reaches: the one place it is computed."""
    return LEVEL_TWO_FACTORS if MFA in amr else LEVEL_ONE_FACTOR


def is_every_factor(amr: Iterable[str]) -> bool:
    """Whether a sign-in used every factor (a second factor was typed or touched, not
    stood in for by a trusted browser): what "sudo mode" asks of a user with 2FA."""
    values = set(amr)
    return MFA in values and TRUSTED_BROWSER not in values


def acr_level(value: str) -> int | None:
    """The level an acr value names (None for a value this provider does not know)."""
    if value in ("2", PAPE_MFA):
        return LEVEL_TWO_FACTORS
    if value == "1":
        return LEVEL_ONE_FACTOR
    return None


def acr_for(
    amr: Iterable[str], requested: str | None = None, essential: tuple[str, ...] = ()
) -> str:
    """The acr for a sign-in: Keycloak's levels ("1" password, "2" two factors). A request
    for the PAPE multi-factor policy (in ``acr_values`` or an essential ``acr``) is honoured
    as level 2 and echoed back."""
    level = level_of(amr)
    asked = [*(requested or "").split(), *essential]
    if level >= LEVEL_TWO_FACTORS and PAPE_MFA in asked:
        return PAPE_MFA
    return str(level)


# -- the acr a request asks for (OIDC Core 5.5.1.1) --------------------------------------------


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


def essential_acr_unsatisfiable(values: tuple[str, ...]) -> bool:
    """SPEC V4 (OIDC Core 5.5.1.1): an essential ``acr`` none of whose values is one this
    provider issues ("1", "2", the PAPE multi-factor URI) can never be met. One known value
    among unknown ones is enough: the request then asks for that level."""
    return bool(values) and all(acr_level(value) is None for value in values)


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
