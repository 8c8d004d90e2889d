"""The console's recent deliveries (issue 17), on the ``admin`` blueprint: the realm's
back-channel logout tokens, failed ones first (``services.deliveries``), each with its
application, the URI called, its attempts and what the receiver answered. Reached from the
clients page.

The statement of the zone the console's times are in (the audit log's too) lives here:
``admin`` imports this module for its routes, as it does ``admin_users``."""

from __future__ import annotations

from flask import g
from flask_babel import get_timezone
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from .. import clock
from ..db import get_session
from ..formats import zone_name
from ..services import deliveries
from .admin_bp import bp, render


def zone_statement() -> str:
    """Which zone the console's times are in (the IDP_TIMEZONE setting), with its offset
    now."""
    zone = get_timezone()
    name = str(zone)
    if name in ("UTC", "Etc/UTC"):
        return _("Times in UTC.")
    offset = clock.now().astimezone(zone).strftime("%z")
    offset = f"UTC{offset[:3]}:{offset[3:]}"
    return _("Times in %(zone)s (%(offset)s).", zone=zone_name(zone), offset=offset)


@bp.get("/deliveries")
def deliveries_list(realm: str) -> Response:
    """Recent back-channel logout deliveries: those that failed first, then the others,
    newest first (at most ``deliveries.RECENT_LIMIT``)."""
    rows = deliveries.recent_backchannel_deliveries(get_session(), g.idp_realm)
    return render(
        "admin/deliveries.html",
        rows=rows,
        limit=deliveries.RECENT_LIMIT,
        states=deliveries.DeliveryState,
        zone=zone_statement(),
    )
