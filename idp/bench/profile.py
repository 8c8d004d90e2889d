"""Where the time goes, in the production setup of `make bench-compare`: ``idp serve``
(granian, its workers, PostgreSQL, production settings) under the same ``wrk`` load, with
``py-spy`` sampling every worker (``pip install py-spy``; it needs ptrace rights).

``python -m idp.bench.profile token`` prints the top functions by own ("self") time and by
time on the stack ("total"), as shares of the samples, for one endpoint: discovery, JWKS,
token or introspection.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from ..cli.servers import usable_cores
from . import load, setup
from .compare import _post_json


def _frames(stack: str) -> list[str]:
    """``py-spy --format raw`` stack frames, outermost first, as ``function (file)``."""
    frames = []
    for frame in stack.split(";"):
        name, _, where = frame.partition(" (")
        path = where.rsplit(":", 1)[0]
        for marker in ("site-packages/", "/idp/", "lib/python3"):
            if marker in path:
                path = path.split(marker, 1)[1]
                path = ("idp/" if marker == "/idp/" else "") + path
                break
        frames.append(f"{name} ({path})")
    return frames


def summarise(raw: Path, top: int) -> str:
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = _frames(stack)
        # Idle workers wait in the server's own loop: only samples in a request (or in the
        # argon2 hashing thread) count.
        if not any(k in f for f in frames for k in ("flask", "idp/", "werkzeug", "argon2")):
            continue
        samples += n
        own[frames[-1]] += n
        for frame in set(frames):
            total[frame] += n
    lines = [f"{samples} samples with a request in progress"]
    lines.append(f"\nby own time (top {top}):")
    lines += [f"  {100 * n / samples:5.1f}%  {name}" for name, n in own.most_common(top)]
    lines.append(f"\nby total time, request handlers only (top {top}):")
    lines += [
        f"  {100 * n / samples:5.1f}%  {name}"
        for name, n in total.most_common(top * 3)
        if n < samples * 0.995
    ][:top]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m idp.bench.profile", description=__doc__)
    parser.add_argument(
        "endpoint", choices=["discovery", "JWKS", "token", "introspection", "sign-ins"]
    )
    parser.add_argument("--users", type=int, default=50, help="accounts for sign-ins")
    parser.add_argument("--sign-in-concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=usable_cores())
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    args = parser.parse_args(argv)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    with setup.bench_database() as url, tempfile.TemporaryDirectory() as tmp:
        instance = setup.prepare(url, tmp, args.users)
        port = setup.free_port()
        serve = [setup.idp_command(), "serve", f"--workers={args.workers}"]
        env = instance.env | {"IDP_PORT": str(port)}
        proc = setup.Process(serve, env, port, Path(tmp) / "idp.log")
        try:
            proc.wait_ready(f"/realms/{setup.REALM}/.well-known/openid-configuration")
            realm = f"http://127.0.0.1:{port}/realms/{setup.REALM}"
            proto = f"{realm}/protocol/openid-connect"
            auth = {"Authorization": instance.basic_auth}
            grant = {"grant_type": "client_credentials"}
            token = _post_json(f"{proto}/token", grant, instance.basic_auth)["access_token"]
            kw: dict[str, Any] = {"headers": setup.PROXY_HEADERS}
            target = {
                "sign-ins": "",
                "discovery": f"{realm}/.well-known/openid-configuration",
                "JWKS": f"{proto}/certs",
                "token": f"{proto}/token",
                "introspection": f"{proto}/token/introspect",
            }[args.endpoint]
            if args.endpoint == "token":
                kw = {"method": "POST", "body": urlencode(grant)}
            elif args.endpoint == "introspection":
                kw = {"method": "POST", "body": urlencode({"token": token})}
            if args.endpoint in ("token", "introspection"):
                kw["headers"] = setup.PROXY_HEADERS | auth

            def measure(seconds: float) -> load.Figures:
                if args.endpoint != "sign-ins":
                    return load.wrk(
                        proc.pid, target, seconds=seconds, connections=args.connections, **kw
                    )
                return load.sign_ins(
                    proc.pid,
                    port,
                    f"/realms/{setup.REALM}",
                    (instance.client_id, instance.basic_auth, setup.REDIRECT_URI),
                    instance.users,
                    setup.PASSWORD,
                    seconds=seconds,
                    concurrency=args.sign_in_concurrency,
                    headers=setup.PROXY_HEADERS,
                )

            measure(3)  # warm
            raw = Path(tmp) / "profile.txt"
            spy = subprocess.Popen(  # noqa: S603 - py-spy on our own server
                [py_spy, "record", "--pid", str(proc.pid), "--subprocesses", "--format", "raw"]
                + ["--rate", str(args.rate), "--duration", str(args.seconds + 2)]
                + ["--nonblocking", "--output", str(raw)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1)
            figures = measure(args.seconds)
            spy.wait(timeout=args.seconds + 60)
            print(
                f"{args.endpoint}: {figures.rate:.0f} req/s, {figures.cpu_ms:.2f} ms server "
                f"CPU per request (per sign-in), p99 {figures.p99_ms:.1f} ms, "
                f"{figures.errors} errors "
                f"({args.workers} workers)"
            )
            print(summarise(raw, args.top))
        finally:
            proc.stop()


if __name__ == "__main__":
    main()
