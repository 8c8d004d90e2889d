"""``idp serve`` (production, with waitress) and ``idp dev`` (a development instance)."""

from __future__ import annotations

import click

from .common import get_app


@click.command("serve")
@click.option("--threads", default=8, show_default=True)
def serve(threads: int) -> None:
    """Serve with waitress (production)."""
    import waitress

    app = get_app()
    settings = app.extensions["idp.settings"]
    waitress.serve(
        app,
        host=settings.host,
        port=settings.port,
        threads=threads,
        # waitress drops X-Forwarded-* headers by default; with IDP_PROXY_COUNT the app's
        # ProxyFix reads them (client address for the audit log and throttles, https).
        clear_untrusted_proxy_headers=not settings.proxy_count,
    )


@click.command("dev")
def dev() -> None:
    """Set up a development instance and serve it: migrate the SQLite database, create the
    default realm, a demo admin and a demo client if absent, print them, and serve."""
    from ..devsetup import ensure_dev_instance

    app = get_app()
    info = ensure_dev_instance(app)
    settings = app.extensions["idp.settings"]
    click.echo(info)
    app.run(host=settings.host, port=settings.port, threaded=True, use_reloader=False)
