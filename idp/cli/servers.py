"""``idp serve`` (production, with granian) and ``idp dev`` (a development instance).

Why granian: measured by ``make bench-compare`` against waitress and gunicorn (gthread) on this
provider (README "Running in production"). It serves a hello-world Flask route at about twice
gunicorn's rate for half its CPU per request, the provider's own endpoints at least as fast,
and it reads request headers in its Rust event loop: a slow client (slowloris) holds a cheap
connection task until the header timeout, never one of the Python threads, so other clients
keep being answered with nothing in front of it.
"""

from __future__ import annotations

import os

import click
from flask import Flask

from .common import get_app, refuse_missing_instance


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _allow_open_files(wanted: int) -> None:
    """Raise the soft limit on open files towards ``wanted`` (each connection is one), as far
    as the hard limit allows."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


def worker_app() -> Flask:
    """The app of one worker process (granian calls this after the fork)."""
    from .. import create_app
    from ..mail.sender import start_sender_thread

    app = create_app()
    if app.extensions["idp.settings"].mail_sender:
        start_sender_thread(app)
    return app


@click.command("serve")
@click.option(
    "--workers",
    envvar="IDP_WORKERS",
    type=click.IntRange(1),
    default=usable_cores,
    show_default="one per core",
    help="Worker processes (IDP_WORKERS).",
)
@click.option(
    "--threads",
    envvar="IDP_THREADS",
    type=click.IntRange(1),
    default=4,
    show_default=True,
    help="Python threads per worker that run requests, each with its database connection "
    "(IDP_THREADS); one more thread stays free for /healthz and cached answers while the "
    "database does not answer.",
)
@click.option(
    "--max-connections",
    envvar="IDP_MAX_CONNECTIONS",
    type=click.IntRange(1),
    default=1024,
    show_default=True,
    help="Connections a worker holds at once (active, idle keep-alive or still sending "
    "headers); more wait in the listen backlog (IDP_MAX_CONNECTIONS).",
)
@click.option(
    "--backlog",
    envvar="IDP_BACKLOG",
    type=click.IntRange(128),
    default=1024,
    show_default=True,
    help="Connections waiting to be accepted (IDP_BACKLOG).",
)
@click.option(
    "--header-timeout",
    envvar="IDP_HEADER_TIMEOUT",
    type=click.FloatRange(0.1, 60),
    default=10.0,
    show_default=True,
    help="Seconds a client has to send a request's headers, and that an idle keep-alive "
    "connection stays open (IDP_HEADER_TIMEOUT).",
)
@click.option(
    "--max-header-bytes",
    envvar="IDP_MAX_HEADER_BYTES",
    type=click.IntRange(8192),
    default=65536,
    show_default=True,
    help="Largest request line and headers, in bytes (IDP_MAX_HEADER_BYTES).",
)
@click.option(
    "--worker-max-rss",
    envvar="IDP_WORKER_MAX_RSS",
    type=click.IntRange(0),
    default=512,
    show_default=True,
    help="A worker whose memory stays above this many MiB is replaced; 0: never "
    "(IDP_WORKER_MAX_RSS).",
)
@click.option(
    "--shutdown-timeout",
    envvar="IDP_SHUTDOWN_TIMEOUT",
    type=click.IntRange(1),
    default=30,
    show_default=True,
    help="Seconds a stopping worker may take to finish its requests (IDP_SHUTDOWN_TIMEOUT).",
)
# `make bench-compare` serves its hello-world app on the same server with the same options.
@click.option("--app", "target", default="idp.cli.servers:worker_app", hidden=True)
def serve(
    workers: int,
    threads: int,
    max_connections: int,
    backlog: int,
    header_timeout: float,
    max_header_bytes: int,
    worker_max_rss: int,
    shutdown_timeout: int,
    target: str,
) -> None:
    """Serve with granian (production) on IDP_HOST:IDP_PORT: one worker process per core."""
    from granian.constants import Interfaces
    from granian.http import HTTP1Settings
    from granian.server import Server

    from ..config import ConfigError, load_settings

    refuse_missing_instance()
    try:  # fail here, once, on a bad configuration, rather than in every worker
        settings = load_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    _allow_open_files(workers * max_connections + 256)
    # One database connection per thread, and one thread more than connections: while a
    # frozen database holds every connection, the pool refuses at once (db_pool.FailFastPool)
    # and the spare thread answers /healthz, /readyz's 503 and the cached discovery and
    # JWKS. The workers read it from the environment they inherit.
    os.environ.setdefault("IDP_DB_POOL_SIZE", str(threads))
    Server(
        target,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.WSGI,
        factory=True,
        workers=workers,
        blocking_threads=threads + 1,
        backlog=backlog,
        # granian's "backpressure" is the number of connections a worker serves at once.
        backpressure=max_connections,
        websockets=False,
        http1_settings=HTTP1Settings(
            header_read_timeout=round(header_timeout * 1000),
            max_buffer_size=max_header_bytes,
        ),
        workers_max_rss=worker_max_rss or None,
        rss_samples=2,
        respawn_failed_workers=True,
        workers_kill_timeout=shutdown_timeout,
    ).serve()


@click.command("dev")
def dev() -> None:
    """Set up a development instance and serve it: migrate the SQLite database, create the
    default realm, a demo admin and a demo client if absent, print them, and serve."""
    from ..devsetup import ensure_dev_instance

    app = get_app(creates_instance=True)  # the development instance is made where it runs
    info = ensure_dev_instance(app)
    settings = app.extensions["idp.settings"]
    click.echo(info)
    if settings.mail_sender:
        from ..mail.sender import start_sender_thread

        start_sender_thread(app)
    app.run(host=settings.host, port=settings.port, threaded=True, use_reloader=False)
