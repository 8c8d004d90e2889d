"""The console's policy pages (SPEC P1, P2, P3, P8, issues 7 and 10): the realm's settings
(branding: display name, default language, accent colour and logo; the sign-in policy: who
must have two-factor authentication, the grace period, "trust this browser", "Sign in with a
passkey") and the realm's clients with their "requires two-factor authentication" switch;
a client's page shows its URIs and edits its logout settings (issue 17).

Admins only, like the rest of the console; a change needs a recent sign-in with every factor
the admin has, as the account's sensitive actions do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, abort, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from ..branding_messages import branding_refusal, logo_too_large
from ..db import get_session
from ..formats import join_sentences
from ..i18n import LANGUAGE_NAMES
from ..interaction import policy as sign_in_policy
from ..models import Client
from ..services import brand_checks, clients, realms, security_keys
from ..services.errors import InvalidInput
from ..services.factors import has_second_factor
from .admin_bp import NOT_ENROLLED, actor, count_not_enrolled, render
from .brand import DEFAULT_ACCENT, error_page
from .common import (
    client_address,
    load_realm,
    require_admin,
    require_recent_sign_in,
    single,
)
from .new_codes import return_after_setup

bp = Blueprint("admin_settings", __name__, url_prefix="/realms/<realm>/admin")

REQUIRE_2FA_LABELS = {
    "none": _l("Nobody"),
    "admins": _l("Admins"),
    "all": _l("Everyone"),
}
#: The logo form's body: the largest logo and room for the other fields and the multipart
#: framing. Larger bodies get the "logo too large" page (413) before anything is read.
LOGO_REQUEST_MAX = brand_checks.LOGO_MAX_BYTES + 16 * 1024

View = TypeVar("View", bound=Callable[..., Any])


def upload_limit(limit: int) -> Callable[[View], View]:
    """Let one view take a body up to ``limit`` bytes instead of the app's
    ``MAX_CONTENT_LENGTH`` (``create_app`` applies it before the CSRF check reads the body)."""

    def mark(view: View) -> View:
        view.max_content_length = limit  # type: ignore[attr-defined]
        return view

    return mark


@bp.url_value_preprocessor
def _realm(endpoint: str | None, values: dict[str, Any] | None) -> None:
    if values and "realm" in values:
        load_realm(values["realm"])


@bp.before_request
def _admin_only() -> Response | None:
    return require_admin(g.idp_realm)


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(exc: RequestEntityTooLarge) -> Response:
    if request.endpoint != "admin_settings.save_branding":
        return error_page(
            413, _("Request too large"), _("The request is larger than this server accepts.")
        )
    back = url_for("admin_settings.settings", realm=g.idp_realm.name)
    return error_page(
        413,
        _("The logo is too large"),
        logo_too_large(),
        back={"url": back, "label": _("Back to realm settings")},
    )


def _settings_page(
    http_status: int = 200,
    error: str | None = None,
    *,
    error_field: str | None = None,
    brand: dict[str, Any] | None = None,
) -> Response:
    return render(
        "admin/settings.html",
        http_status,
        policy=realms.realm_policy(g.idp_realm),
        brand={**realms.realm_branding(g.idp_realm), **(brand or {})},
        choices=REQUIRE_2FA_LABELS,
        max_days=realms.POLICY_DAYS_MAX,
        keys_available=security_keys.available(),
        not_enrolled=count_not_enrolled(get_session(), g.idp_realm),
        not_enrolled_filter=NOT_ENROLLED,
        languages=LANGUAGE_NAMES,
        default_accent=DEFAULT_ACCENT,
        logo_max_kib=brand_checks.LOGO_MAX_BYTES // 1024,
        error=error,
        error_field=error_field,
    )


def _policy_refusal(exc: InvalidInput) -> str:
    if isinstance(exc, realms.InvalidRequirement):
        return _(
            "Two-factor authentication can be required of none, admins or all users, "
            "not %(value)s.",
            value=repr(exc.value),
        )
    if isinstance(exc, realms.InvalidDays) and exc.setting == "grace_days":
        return _(
            "The grace period must be a whole number of days from 0 to %(max)d.",
            max=realms.POLICY_DAYS_MAX,
        )
    if isinstance(exc, realms.InvalidDays):
        return _(
            '"Trust this browser" must be a whole number of days from 0 to %(max)d.',
            max=realms.POLICY_DAYS_MAX,
        )
    if isinstance(exc, realms.InvalidSwitch):
        return _('"Sign in with a passkey" must be allowed or turned off.')
    return _("A value is not valid.")


@bp.get("/settings")
def settings(realm: str) -> Response:
    return _settings_page()


def _enrols_at_once(require_2fa: str | None) -> bool:
    """Whether saving ``require_2fa`` sends the saving admin to enrolment at once: the
    policy then covers them (SPEC P1) and they have no second factor. The console asks
    a covered admin for a second factor even within the grace period (no "Later")."""
    if require_2fa not in sign_in_policy.REALM_REQUIREMENTS:
        return False
    facts = sign_in_policy.UserFacts(
        is_admin=bool(g.user.is_admin),
        has_second_factor=has_second_factor(get_session(), g.user),
        created_at=g.user.created_at,
    )
    if facts.has_second_factor:
        return False
    return sign_in_policy.realm_covers(sign_in_policy.RealmPolicy(require_2fa=require_2fa), facts)


@bp.post("/settings")
def save_settings(realm: str) -> Response:
    # Read every field first: a repeated field is a 400 before anything else happens.
    require_2fa = single("require_2fa")
    grace_days = single("grace_days")
    trust_browser_days = single("trust_browser_days")
    passkey_sign_in = single("passkey_sign_in")
    confirmed = single("confirm") == "yes"
    denied = require_recent_sign_in(g.idp_realm, g.user)
    if denied:
        return denied
    db = get_session()
    try:
        changes = realms.set_realm_policy(
            db,
            g.idp_realm,
            require_2fa=require_2fa,
            grace_days=grace_days,
            trust_browser_days=trust_browser_days,
            passkey_sign_in=passkey_sign_in,
            actor=actor(),
            client_address=client_address(),
        )
    except InvalidInput as exc:
        db.rollback()
        field = (
            exc.setting
            if isinstance(exc, (realms.InvalidDays, realms.InvalidSwitch))
            else "require_2fa"
        )
        return _settings_page(
            400, join_sentences(_("Nothing was saved."), _policy_refusal(exc)), error_field=field
        )
    if changes and not confirmed and _enrols_at_once(require_2fa):
        # The values are valid; nothing is kept until the admin confirms (or enrols first).
        db.rollback()
        sent = {
            "require_2fa": require_2fa,
            "grace_days": grace_days,
            "trust_browser_days": trust_browser_days,
            "passkey_sign_in": passkey_sign_in,
        }
        return render(
            "admin/settings_confirm.html",
            fields={name: value for name, value in sent.items() if value is not None},
        )
    db.commit()
    flash(_("The realm settings are saved.") if changes else _("Nothing changed."))
    return redirect(url_for("admin_settings.settings", realm=realm))


@bp.get("/settings/enrol-first")
def enrol_first(realm: str) -> Response:
    """The console's "Set up two-factor authentication first": the account page's setup,
    which leads back to the realm settings when it is done."""
    return_after_setup(g.user, url_for("admin_settings.settings", realm=realm))
    return redirect(url_for("account.enable", realm=realm))


#: The form field each branding refusal concerns (its input points at the error).
_REFUSED_FIELD = (
    (realms.InvalidDisplayName, "display_name"),
    (realms.UnsupportedLocale, "default_locale"),
    (brand_checks.InvalidColor, "accent_color"),
    (brand_checks.LowContrastColor, "accent_color"),
    (brand_checks.LogoRefused, "logo"),
)


@bp.post("/settings/branding")
@upload_limit(LOGO_REQUEST_MAX)
def save_branding(realm: str) -> Response:
    """The Branding form (display name, default language, accent colour, logo), and its
    "Remove logo" button (``remove_logo=yes`` alone)."""
    display_name = single("display_name")
    default_locale = single("default_locale")
    accent_color = single("accent_color")
    remove_logo = single("remove_logo") == "yes"
    uploads = request.files.getlist("logo")
    if len(uploads) > 1:
        abort(400, description=_("The field %(name)s was sent more than once.", name="'logo'"))
    # A file input left empty still sends a part, with no file name and no bytes.
    upload = uploads[0] if uploads and uploads[0].filename else None
    logo = upload.read(brand_checks.LOGO_MAX_BYTES + 1) if upload else None
    denied = require_recent_sign_in(
        g.idp_realm, g.user, return_to=url_for("admin_settings.settings", realm=realm)
    )
    if denied:
        return denied
    db = get_session()
    try:
        changes = realms.set_realm_branding(
            db,
            g.idp_realm,
            display_name=display_name,
            default_locale=default_locale,
            accent_color=accent_color,
            logo=logo,
            logo_declared_type=upload.mimetype if upload else None,
            remove_logo=remove_logo,
            actor=actor(),
            client_address=client_address(),
        )
    except InvalidInput as exc:
        db.rollback()
        field = next((name for kind, name in _REFUSED_FIELD if isinstance(exc, kind)), None)
        # A refused form keeps every value sent, the chosen language too.
        sent = {
            "display_name": display_name,
            "default_locale": default_locale,
            "accent_color": accent_color,
        }
        return _settings_page(
            400,
            join_sentences(_("Nothing was saved."), branding_refusal(exc)),
            error_field=field,
            brand={name: value for name, value in sent.items() if value is not None},
        )
    db.commit()
    if "logo" in changes and not remove_logo:
        flash(_("The branding is saved, with the new logo."))
    elif "logo" in changes:
        flash(_("The logo is removed."))
    else:
        flash(_("The branding is saved.") if changes else _("Nothing changed."))
    return redirect(url_for("admin_settings.settings", realm=realm))


@bp.get("/clients")
def clients_list(realm: str) -> Response:
    return render("admin/clients.html", rows=clients.list_clients(get_session(), g.idp_realm))


@bp.post("/clients")
def set_client_policy(realm: str) -> Response:
    client_id = single("client_id")
    value = single("require_2fa")
    if value not in ("yes", "no"):
        abort(400, description=_("The field %(name)s must be yes or no.", name="'require_2fa'"))
    client = clients.find_client(get_session(), g.idp_realm, client_id or "")
    if client is None:
        abort(404)
    denied = require_recent_sign_in(g.idp_realm, g.user)
    if denied:
        return denied
    db = get_session()
    clients.set_client_require_2fa(
        db, client, value == "yes", actor=actor(), client_address=client_address()
    )
    db.commit()
    name = f"{client.name} ({client.client_id})"
    if client.require_2fa:
        flash(_("%(client)s now requires two-factor authentication.", client=name))
    else:
        flash(_("%(client)s no longer requires two-factor authentication.", client=name))
    return redirect(url_for("admin_settings.clients_list", realm=realm))


# -- a client's page: its URIs and its logout settings (issue 17) ----------------------------
def _client_page(
    client: Client,
    http_status: int = 200,
    *,
    form: dict[str, Any] | None = None,
    error: str | None = None,
    error_field: str | None = None,
) -> Response:
    shown = {name: getattr(client, name) for name in clients.LOGOUT_SETTINGS}
    return render(
        "admin/client.html",
        http_status,
        client=client,
        logout={**shown, **(form or {})},
        error=error,
        error_field=error_field,
    )


#: Why the client page refuses a logout URI, in the page's language.
_LOGOUT_REFUSALS = {
    "backchannel_logout_uri": _l(
        "The back-channel logout URI must be an absolute http:// or https:// URI "
        "without a fragment (#)."
    ),
    "frontchannel_logout_uri": _l(
        "The front-channel logout URI must be an absolute http:// or https:// URI without "
        "a fragment (#), with the scheme, host and port of one of the client's redirect URIs."
    ),
}


@bp.route("/clients/<path:client_id>", methods=["GET", "POST"])
def client_detail(realm: str, client_id: str) -> Response:
    """A client's page: name, client_id, redirect and post-logout redirect URIs, and its
    logout settings (OpenID Connect Back- and Front-Channel Logout 1.0), which the form
    edits (an empty URI removes it)."""
    db = get_session()
    client = clients.find_client(db, g.idp_realm, client_id)
    if client is None:
        abort(404)
    if request.method == "GET":
        return _client_page(client)
    # The URIs as typed (trimmed; empty removes one), the boxes checked or not.
    sent: dict[str, Any] = {
        name: value == "yes" if name.endswith("_required") else (value or "").strip()
        for name, value in ((name, single(name)) for name in clients.LOGOUT_SETTINGS)
    }
    denied = require_recent_sign_in(g.idp_realm, g.user)
    if denied:
        return denied
    try:
        changed = clients.set_client_logout(
            db, client, sent, actor=actor(), client_address=client_address()
        )
    except clients.InvalidLogoutSetting as exc:
        db.rollback()
        field = exc.setting
        refused = join_sentences(_("Nothing was saved."), str(_LOGOUT_REFUSALS[field]))
        return _client_page(client, 400, form=sent, error=refused, error_field=field)
    db.commit()
    name = f"{client.name} ({client.client_id})"
    if changed:
        flash(_("The logout settings of %(client)s are saved.", client=name))
    else:
        flash(_("Nothing changed."))
    return redirect(url_for("admin_settings.client_detail", realm=realm, client_id=client_id))
