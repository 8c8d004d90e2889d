"""The backup-code file of SPEC B2, shared by the account pages and the sign-in's codes page."""

from __future__ import annotations

from flask import Response, make_response, render_template

from ..db import get_session, utcnow
from ..formats import format_when
from ..models import Realm, User
from ..services import backup_codes


def backup_codes_download(realm: Realm, user: User, posted: list[str]) -> Response | None:
    """The text file of SPEC B2 for codes a page showed and posted back: only unused codes
    of the user's current set, numbered as issued, in the page's language, named after the
    realm and the account. None when no posted code is current. (The sign-in's codes page
    can use it too.)"""
    numbered = backup_codes.numbered_current_codes(get_session(), user, posted)
    if not numbered:
        return None
    text = render_template(
        "partials/backup_codes.txt",
        realm_display=realm.display_name,
        account=user.email,
        issued=format_when(utcnow()),
        codes=[(number, backup_codes.format_code(code)) for number, code in numbered],
    )
    resp = make_response(text)
    resp.headers["Content-Type"] = "text/plain; charset=utf-8"
    filename = backup_codes.download_filename(realm.name, user.email)
    resp.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return resp
