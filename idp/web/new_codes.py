"""A new set of backup codes, carried from the POST that issues it to the GET that shows it
(POST/redirect/GET): the POST keeps the set, encrypted with the data key, in the signed
browser session; the GET shows it once and drops it, so a reload says the codes were shown
already and never issues another set. Also where the "Done" under a set just issued leads
(the console's "Set up two-factor authentication first" comes back to its page).

Shared by the account's two-factor pages (an authenticator app, a first security key) and
the console's settings, which is why it is a module of its own."""

from __future__ import annotations

import json

from flask import g, session

from ..db import get_session
from ..models import User
from ..services import backup_codes
from ..services.context import cipher
from ..services.crypto import digest
from .common import current_sso, is_local_path

#: Key in the signed browser session of a set just issued, between its POST and its GET.
NEW_CODES = "new_backup_codes"
#: Key in the signed browser session of the page to go back to once 2FA is set up (the
#: console's "Set up two-factor authentication first").
AFTER_SETUP = "after_2fa_setup"


def _this_sid_digest() -> str:
    sso = current_sso(g.idp_realm)
    return digest(sso.sid) if sso else ""


def keep_new_codes(user: User, codes: list[str], *, enabled_now: bool) -> None:
    """Carry a new set to the page that shows it: encrypted with the data key (the signed
    session is readable by whoever holds the cookie), bound to the user and this session."""
    payload = {"user": user.id, "sid": _this_sid_digest(), "codes": codes, "enabled": enabled_now}
    session[NEW_CODES] = cipher().encrypt(json.dumps(payload))


def take_new_codes(user: User) -> tuple[list[str], bool] | None:
    """The set kept by ``keep_new_codes``, dropped from the session as it is read; None
    when there is none (shown already) or it is no longer the user's current set."""
    token = session.pop(NEW_CODES, None)
    if not isinstance(token, str):
        return None
    try:
        payload = json.loads(cipher().decrypt(token))
    except ValueError:
        return None
    if payload.get("user") != user.id or payload.get("sid") != _this_sid_digest():
        return None
    codes = [c for c in payload.get("codes", []) if isinstance(c, str)]
    current = backup_codes.numbered_current_codes(get_session(), user, codes)
    if not current:
        return None
    return [code for _number, code in current], bool(payload.get("enabled"))


def return_after_setup(user: User, path: str) -> None:
    """Lead the "Done" of the backup codes shown when ``user`` enables 2FA in this browser
    to ``path`` (a local path of this realm) instead of the two-factor page."""
    session[AFTER_SETUP] = {"user": user.id, "path": path}


def after_setup(user: User) -> str | None:
    """The path ``return_after_setup`` kept for ``user``, dropped as it is read."""
    kept = session.pop(AFTER_SETUP, None)
    if not isinstance(kept, dict) or kept.get("user") != user.id:
        return None
    path = kept.get("path")
    return path if isinstance(path, str) and is_local_path(g.idp_realm, path) else None
