"""Adding and removing a security key (issue 10). The flows live with the factor
(``factors.security_keys``, through the ``enable_factor`` frame); this name stays for the
pages that call it."""

from __future__ import annotations

from .factors.security_keys import (
    AddedKey,
    add_security_key,
    is_last_factor,
    remove_security_key,
)

__all__ = ["AddedKey", "add_security_key", "is_last_factor", "remove_security_key"]
