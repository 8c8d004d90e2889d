"""The realm's brand on its pages (issue 7): the public logo and theme stylesheet, and the
realm every page under ``/realms/<name>/`` is drawn with.

- ``/realms/<realm>/branding/logo``: the uploaded logo with its stored content type (checked
  by its bytes when it was uploaded), ``nosniff``, an ETag; 404 when the realm has none.
- ``/realms/<realm>/branding/theme.css``: CSS custom properties for the accent colour (links,
  buttons, focus rings); ``templates/base.html`` links it after ``style.css``. A stylesheet,
  not an inline ``style``: the CSP stays ``style-src 'self'``.

No sign-in: the sign-in page itself shows the brand.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from flask import Blueprint, Flask, Response, abort, g, make_response, render_template, request
from sqlalchemy.exc import SQLAlchemyError

from ..db import database_unavailable, get_session, rollback_quietly
from ..models import Realm, User
from ..services.realms import RealmSnapshot, find_realm, peek_realm
from .common import current_user
from .failures import is_protocol_request

bp = Blueprint("brand", __name__, url_prefix="/realms/<realm>/branding")

#: The built-in accent (also in style.css); a realm without its own colour gets it.
DEFAULT_ACCENT = "#0b5cad"


def _realm_or_404(name: str) -> Realm:
    realm = find_realm(get_session(), name)
    if realm is None:
        abort(404)
    g.idp_realm = realm
    return realm


def _conditional(body: bytes, content_type: str, cache_control: str) -> Response:
    """``body`` with a strong ETag (its hash); a matching ``If-None-Match`` gets 304."""
    resp = Response(body, content_type=content_type)
    resp.set_etag(hashlib.sha256(body).hexdigest()[:32])
    resp.headers["Cache-Control"] = cache_control
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.make_conditional(request)  # in place (it returns resp, typed as werkzeug's Response)
    return resp


@bp.get("/logo")
def logo(realm: str) -> Response:
    row = _realm_or_404(realm)
    data = row.logo
    if not data or not row.logo_content_type:
        abort(404)
    # Revalidated on every use (an ETag round trip) so a new logo shows at once.
    return _conditional(data, row.logo_content_type, "public, no-cache")


def _mix(color: str, toward: str, amount: float) -> str:
    """``color`` moved ``amount`` (0 to 1) of the way towards ``toward`` (both ``#rrggbb``)."""
    pairs = [(int(color[i : i + 2], 16), int(toward[i : i + 2], 16)) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(c + (t - c) * amount):02x}" for c, t in pairs)


def theme_css(accent: str | None) -> str:
    """The realm's stylesheet: the accent and the shades style.css derives from it. An
    accent is stored only after the contrast check (4.5:1 on white), so links in it and
    white labels on it stay readable; the darker hover shade only adds contrast."""
    accent = accent or DEFAULT_ACCENT
    return (
        "/* The realm's accent colour (issue 7); style.css uses these properties. */\n"
        ":root {\n"
        f"  --accent: {accent};\n"
        f"  --accent-strong: {_mix(accent, '#000000', 0.2)};\n"
        f"  --accent-soft: {_mix(accent, '#ffffff', 0.9)};\n"
        "}\n"
    )


def theme_version(realm: Realm | RealmSnapshot) -> str:
    """The theme URL's version: it changes with the colour, so the stylesheet can be cached."""
    return (realm.accent_color or DEFAULT_ACCENT).lstrip("#").lower()


@bp.get("/theme.css")
def theme(realm: str) -> Response:
    row: Realm | RealmSnapshot
    try:
        row = _realm_or_404(realm)
    except SQLAlchemyError as exc:
        # The "temporarily unavailable" page keeps the brand: the colour this process knows.
        cached = peek_realm(realm) if database_unavailable(exc) else None
        if cached is None:
            raise
        rollback_quietly(get_session())
        row = cached
    current = request.args.get("v") == theme_version(row)
    return _conditional(
        theme_css(row.accent_color).encode(),
        "text/css; charset=utf-8",
        # A versioned URL names this colour for good; any other is revalidated.
        "public, max-age=86400" if current else "public, no-cache",
    )


#: ``/realms/<name>/...``: the realm an address belongs to, even one no route matches.
_REALM_PATH = re.compile(r"^/realms/([^/]+)(?:/|$)")


def error_page(status: int, title: str, message: str, **context: Any) -> Response:
    """The error page (``errors/error.html``), with the realm's brand and the account menu
    when the address belongs to a known realm."""
    realm, user = page_owner(status)
    page = render_template(
        "errors/error.html",
        status=status,
        title=title,
        message=message,
        realm=realm,
        user=user,
        **context,
    )
    return make_response(page, status)


def page_owner(status: int) -> tuple[Realm | None, User | None]:
    """The realm whose brand an error page carries, and the signed-in user for its account
    menu: the realm named in the URL when it exists (``find_realm`` checks the name's form
    before any query, so an odd name is simply unknown), else nothing. A page for a failure
    (500) first ends the failed transaction and shows no user; whatever goes wrong here
    leaves the page unbranded rather than failing again."""
    db = get_session()
    try:
        if status >= 500:
            db.rollback()
            g.pop("idp_sso", None)
        realm = g.get("idp_realm")
        if realm is None:
            name = (request.view_args or {}).get("realm")
            if name is None and (match := _REALM_PATH.match(request.path)):
                name = match.group(1)
            realm = find_realm(db, name) if isinstance(name, str) else None
        if realm is None:
            return None, None
        # Loaded now, so that drawing the page needs no query that could fail.
        loaded: tuple[object, ...] = (
            realm.name,
            realm.display_name,
            realm.logo_content_type,
            realm.accent_color,
        )
        # The machine endpoints have no browser session (``browser_session``): their
        # error pages show no account menu, whatever cookies came along (V7).
        user = current_user(realm) if status < 500 and not is_protocol_request() else None
        if user is not None:
            loaded += (user.email, user.is_admin)
        return realm, user
    except SQLAlchemyError:
        db.rollback()
        return None, None


def init_app(app: Flask) -> None:
    """Register the routes, and give every page under ``/realms/<name>/`` its realm
    (``g.idp_realm``, set by the blueprints) as ``realm`` unless the view passes one: error
    pages drawn by shared code then carry the brand too."""
    app.register_blueprint(bp)

    @app.context_processor
    def _page_realm() -> dict[str, Any]:
        found: dict[str, Any] = {"theme_version": theme_version}
        if (realm := g.get("idp_realm")) is not None:
            found["realm"] = realm
        return found
