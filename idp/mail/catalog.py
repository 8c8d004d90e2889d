"""Every message the provider sends: its template name and its subject.

A message ``name`` has ``templates/mail/<name>.txt`` (plain text) and ``.html`` (the same
content as HTML); both extend ``mail/base.txt`` / ``mail/base.html``. The subject is
translated, and formatted with the message's parameters (``%(count)s``).
"""

from __future__ import annotations

from ..services.errors import N_

SUBJECTS: dict[str, str] = {
    "password_changed": N_("Your password was changed"),
    "verify_email": N_("Verify your email address"),
    "invitation": N_("You are invited: set up your account"),
}
