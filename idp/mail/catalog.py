"""Every message the provider sends: its template name and its subject.

A message ``name`` has ``templates/mail/<name>.txt`` (plain text) and ``.html`` (the same
content as HTML); both extend ``mail/base.txt`` / ``mail/base.html``. The subject is
translated, and formatted with the message's parameters (``%(count)s``).
"""

from __future__ import annotations

from ..services.errors import N_

SUBJECTS: dict[str, str] = {
    # SPEC P7 (idp.services.notifications)
    "password_changed": N_("Your password was changed"),
    "two_factor_enabled": N_("Two-factor authentication was turned on"),
    "two_factor_disabled": N_("Two-factor authentication was turned off"),
    "two_factor_reset": N_("Your two-factor authentication was reset"),
    "backup_code_used": N_("A backup code was used to sign in"),
    "backup_codes_issued": N_("New backup codes were issued"),
    # issue 9: forgotten passwords and second-factor lockout (idp.services.password_reset)
    "password_reset": N_("Reset your password"),
    "second_factor_lockout": N_("Someone is trying to sign in to your account"),
    "verify_email": N_("Verify your email address"),
    "invitation": N_("You are invited: set up your account"),
}
