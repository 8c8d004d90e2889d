"""Security keys and passkeys on the account's 2FA page (issue 10), on the ``account``
blueprint: add one (named by the user, created by the browser's WebAuthn dialog, verified
here with py_webauthn), rename it, remove it. Adding and removing need the same recent
sign-in as the other 2FA changes; the first key turns 2FA on and shows the backup codes as
the first authenticator app does; removing the last factor is Disable (SPEC D2), refused
where a policy requires 2FA (SPEC P5)."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from ..db import get_session
from ..interaction.context import second_factor_required_by
from ..models import Authenticator
from ..services import security_key_flows, security_keys
from ..services.audit import record_event
from ..services.errors import InvalidInput
from .account_bp import bp, render
from .account_two_factor import REQUIRED_BECAUSE
from .common import (
    client_address,
    current_sso,
    note_enrolment,
    require_recent_sign_in,
    single,
)
from .new_codes import keep_new_codes

NOT_ADDED = _l(
    "The security key was not added: your browser's answer could not be verified, or it "
    "came too late. Try again."
)
ALREADY_ADDED = _l("That security key is registered already.")
#: A key row id the column can hold (see ``revoke_trusted_browser``).
KEY_ID = "int(max=2147483647)"


def _add_page(status: int = 200, **extra: Any) -> Response:
    """The add page, with creation options whose new challenge is bound to this session."""
    db = get_session()
    options = None
    available = security_keys.available()
    sso = current_sso(g.idp_realm)
    if available and sso is not None:
        options = security_keys.registration_options(
            db, g.idp_realm, g.user, binding=security_keys.session_binding(sso.sid)
        )
        db.commit()
    return render(
        "account/add_security_key.html", status, options=options, available=available, **extra
    )


@bp.route("/two-factor/security-keys/add", methods=["GET", "POST"])
def add_security_key(realm: str) -> Response:
    denied = require_recent_sign_in(g.idp_realm, g.user)
    if denied:
        return denied
    if request.method == "GET" or not security_keys.available():
        return _add_page()
    db = get_session()
    sso = current_sso(g.idp_realm)
    assert sso is not None  # require_recent_sign_in passed
    name = single("name") or ""
    try:
        added = security_key_flows.add_security_key(
            db,
            g.idp_realm,
            g.user,
            single("credential"),
            name,
            binding=security_keys.session_binding(sso.sid),
            client_address=client_address(),
            keep_sid=sso.sid,
        )
    except InvalidInput as exc:
        db.rollback()
        return _add_page(400, error=_(str(exc)), name=name)
    except security_keys.KeyAlreadyRegistered:
        db.commit()  # the challenge stays spent
        return _add_page(400, error=ALREADY_ADDED, name=name)
    except security_keys.SecurityKeyRefused:
        db.commit()
        return _add_page(400, error=NOT_ADDED, name=name)
    db.commit()
    if added.codes is not None:
        # The first factor: 2FA is on now, and the key just used proves this session.
        note_enrolment(sso)
        keep_new_codes(g.user, added.codes, enabled_now=True)
        return redirect(url_for("account.show_new_backup_codes", realm=realm))
    flash(_("Security key “%(name)s” added.", name=added.key.name))
    return redirect(url_for("account.two_factor", realm=realm))


def _key(key_id: int) -> Authenticator:
    key = security_keys.find_key(get_session(), g.user, key_id)
    if key is None:
        abort(404)
    return key


@bp.post(f"/two-factor/security-keys/<{KEY_ID}:key_id>/rename")
def rename_security_key(realm: str, key_id: int) -> Response:
    db = get_session()
    key = _key(key_id)
    old = key.name
    try:
        security_keys.rename_key(db, key, single("name"))
    except InvalidInput as exc:
        db.rollback()
        flash(_(str(exc)))
        return redirect(url_for("account.two_factor", realm=realm))
    record_event(
        db,
        g.idp_realm.id,
        "mfa.webauthn.renamed",
        actor=f"user:{g.user.email}",
        subject=g.user,
        client_address=client_address(),
        detail={"key_name": key.name, "old_name": old},
    )
    db.commit()
    flash(_("Security key renamed to “%(name)s”.", name=key.name))
    return redirect(url_for("account.two_factor", realm=realm))


@bp.route(f"/two-factor/security-keys/<{KEY_ID}:key_id>/remove", methods=["GET", "POST"])
def remove_security_key(realm: str, key_id: int) -> Response:
    db = get_session()
    key = _key(key_id)
    last = security_key_flows.is_last_factor(db, g.user, key)
    if last:
        required_by = second_factor_required_by(db, g.idp_realm, g.user)
        if required_by is not None:
            # SPEC P5: removing the last factor is Disable, refused before anything else.
            flash(str(REQUIRED_BECAUSE[required_by]))
            return redirect(url_for("account.two_factor", realm=realm))
    denied = require_recent_sign_in(g.idp_realm, g.user)
    if denied:
        return denied
    if request.method == "GET":
        return render("account/remove_security_key.html", key=key, last=last)
    name = key.name
    off = security_key_flows.remove_security_key(db, g.user, key, client_address=client_address())
    db.commit()
    if off:
        flash(
            _("Security key “%(name)s” removed. Two-factor authentication is disabled.", name=name)
        )
    else:
        flash(_("Security key “%(name)s” removed.", name=name))
    return redirect(url_for("account.two_factor", realm=realm))
