"""``idp mail``: the outbox (for cron, when the sender thread is off: IDP_MAIL_SENDER=0).
Mail is its first kind; ``send-pending`` delivers what is due of every registered kind."""

from __future__ import annotations

import click

from .common import JSON_OPTION, _, get_app, out


@click.group()
def mail() -> None:
    """Mail waiting in the outbox."""


@mail.command("send-pending")
@JSON_OPTION
def send_pending_command(as_json: bool) -> None:
    """Deliver every message that is due now, then exit."""
    from ..mail.sender import send_pending

    app = get_app()
    total = {"sent": 0, "retrying": 0, "failed": 0}
    while True:
        result = send_pending(app)
        for name in total:
            total[name] += getattr(result, name)
        if result.sent + result.retrying + result.failed == 0:
            break
    text = _(
        "mail sent: %(sent)d, to retry later: %(retrying)d, given up: %(failed)d",
        sent=total["sent"],
        retrying=total["retrying"],
        failed=total["failed"],
    )
    out(as_json, total, text)
