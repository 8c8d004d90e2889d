"""The code pages of the hosted sign-in, on the ``login`` blueprint: a trusted browser
(SPEC P8), the security code and the backup code (L1-L6), enrolment inside the sign-in (P1,
P2, P3, P5), and the backup-code pages after it (B6, P6). Each page is its stage's
(``interaction/second_factor.py``, ``interaction/enrolment.py``): the view hands it the
request and draws what it answers. Each shows the account being signed in, with "Not you?
Start over"."""

from __future__ import annotations

from flask import g, request
from werkzeug.wrappers import Response

from .. import assurance
from ..services import backup_codes
from .code_file import backup_codes_download
from .login_bp import bp
from .login_walk import go_on, load, run_stage, user_of


@bp.get("/trusted")
def trusted(realm: str, uid: str) -> Response:
    """A trusted browser stands in for the code (SPEC P8): no page."""
    return run_stage(uid, "login.trusted")


@bp.route("/totp", methods=["GET", "POST"], endpoint="totp")
def totp_code(realm: str, uid: str) -> Response:
    return run_stage(uid, "login.totp")


@bp.route("/backup-code", methods=["GET", "POST"])
def backup_code(realm: str, uid: str) -> Response:
    return run_stage(uid, "login.backup_code")


@bp.route("/enrol", methods=["GET", "POST"])
def enrol(realm: str, uid: str) -> Response:
    return run_stage(uid, "login.enrol")


@bp.route("/codes", methods=["GET", "POST"])
def codes(realm: str, uid: str) -> Response:
    """The codes issued in this sign-in were shown once; Continue goes on."""
    return run_stage(uid, "login.codes")


@bp.post("/codes/download")
def codes_download(realm: str, uid: str) -> Response:
    """The text file of SPEC B2 for the set just shown in this sign-in (the page posts the
    codes back; only unused codes of the user's current set are written)."""
    ix = load(uid)
    if isinstance(ix, Response):
        return ix
    user = user_of(ix)
    if user is None or assurance.MFA not in (ix.amr or []):
        return go_on(ix, user)
    posted = request.form.getlist("code")[: backup_codes.COUNT]
    resp = backup_codes_download(g.idp_realm, user, posted)
    return resp if resp is not None else go_on(ix, user)


@bp.route("/notice", methods=["GET", "POST"])
def notice(realm: str, uid: str) -> Response:
    return run_stage(uid, "login.notice")


@bp.route("/offer", methods=["GET", "POST"])
def offer(realm: str, uid: str) -> Response:
    return run_stage(uid, "login.offer")
