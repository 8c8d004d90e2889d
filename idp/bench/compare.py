"""`make bench-compare`: this provider as the README deploys it, side by side with
oidc-provider 9 (npm, the certified Node.js provider), in alternating rounds, with ratios.

- This provider: ``idp serve`` (granian, one worker per core), IDP_ENV=production, an https
  issuer behind a (simulated) TLS proxy, PostgreSQL at 127.0.0.1:5432 in a database of the
  bench's own (``bench_idp``, created and dropped here).
- oidc-provider: ``bench/oidc-provider/server.js``, a node cluster with as many processes,
  client_credentials, RS256 JWT access tokens (resource indicators), introspection on.
- The same ``idp serve`` serving a hello-world Flask route (the server's ceiling), and the
  argon2id ceiling: verifications/s with one process per worker at the configured cost.

Load: ``wrk`` (Debian's package) for the fixed requests; Python threads with keep-alive
connections for the sign-ins (six requests each). Server CPU per request comes from
``/proc/<pid>/stat`` of the server's processes; RSS is the largest worker's after the run.
Other work on the machine moves absolute figures: compare the ratios, which come from
rounds taken in turn.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from ..cli.servers import usable_cores
from . import load, setup

NODE_APP = Path(__file__).resolve().parents[2] / "bench" / "oidc-provider"
NODE_SECRET = "bench-secret-0123456789abcdef"  # noqa: S105 - the bench's throwaway client


def _post_json(url: str, body: dict[str, str], auth: str) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 - loopback URLs built here
        url,
        data=urlencode(body).encode(),
        headers={"Authorization": auth, **setup.PROXY_HEADERS},
    )
    with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310
        answer: dict[str, Any] = json.load(resp)
        return answer


def _basic(client_id: str, secret: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


class Bench:
    def __init__(self, args: argparse.Namespace, tmp: Path, instance: setup.Instance) -> None:
        self.args, self.tmp, self.instance = args, tmp, instance
        self.results: dict[tuple[str, str], list[load.Figures]] = {}
        self.ceilings: list[tuple[float, float]] = []
        self.procs: list[setup.Process] = []

    def start(self) -> None:
        a, env = self.args, self.instance.env
        serve = [setup.idp_command(), "serve", f"--workers={a.workers}"]
        self.idp_port, self.hello_port, self.node_port = (setup.free_port() for _ in range(3))
        self.idp = self._spawn(serve, env | {"IDP_PORT": str(self.idp_port)}, self.idp_port)
        self.hello = self._spawn(
            [*serve, "--app=idp.bench.hello:create_app"],
            env | {"IDP_PORT": str(self.hello_port)},
            self.hello_port,
        )
        node_env = env | {
            "PORT": str(self.node_port),
            "BENCH_WORKERS": str(a.workers),
            "BENCH_CLIENT_SECRET": NODE_SECRET,
        }
        node = shutil.which("node") or "node"
        self.node = self._spawn([node, str(NODE_APP / "server.js")], node_env, self.node_port)
        self.idp.wait_ready(f"/realms/{setup.REALM}/.well-known/openid-configuration")
        self.hello.wait_ready("/hello")
        self.node.wait_ready("/.well-known/openid-configuration")
        self.realm = f"http://127.0.0.1:{self.idp_port}/realms/{setup.REALM}"
        self.node_url = f"http://127.0.0.1:{self.node_port}"
        self.idp_auth = self.instance.basic_auth
        self.node_auth = _basic("bench", NODE_SECRET)
        self.node_opaque_auth = _basic("bench-opaque", NODE_SECRET)
        token = f"{self.realm}/protocol/openid-connect/token"
        grant = {"grant_type": "client_credentials"}
        self.idp_token = _post_json(token, grant, self.idp_auth)["access_token"]
        self.node_token = _post_json(f"{self.node_url}/token", grant, self.node_opaque_auth)[
            "access_token"
        ]

    def _spawn(self, args: list[str], env: dict[str, str], port: int) -> setup.Process:
        proc = setup.Process(args, env, port, self.tmp / f"{Path(args[0]).name}-{port}.log")
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop()

    # -- one measurement ------------------------------------------------------------------

    def _wrk(
        self,
        pid: int,
        url: str,
        *,
        method: str = "GET",
        body: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> load.Figures:
        a = self.args
        return load.wrk(
            pid,
            url,
            seconds=a.seconds,
            connections=a.connections,
            method=method,
            body=body,
            headers=headers,
        )

    def endpoints(self) -> dict[str, dict[str, Callable[[], load.Figures]]]:
        proto = f"{self.realm}/protocol/openid-connect"
        ours = setup.PROXY_HEADERS
        post = "POST"
        return {
            "discovery": {
                "idp": lambda: self._wrk(
                    self.idp.pid, f"{self.realm}/.well-known/openid-configuration", headers=ours
                ),
                "node": lambda: self._wrk(
                    self.node.pid, f"{self.node_url}/.well-known/openid-configuration"
                ),
            },
            "JWKS": {
                "idp": lambda: self._wrk(self.idp.pid, f"{proto}/certs", headers=ours),
                "node": lambda: self._wrk(self.node.pid, f"{self.node_url}/jwks"),
            },
            "token (client_credentials)": {
                "idp": lambda: self._wrk(
                    self.idp.pid,
                    f"{proto}/token",
                    method=post,
                    body="grant_type=client_credentials",
                    headers=ours | {"Authorization": self.idp_auth},
                ),
                "node": lambda: self._wrk(
                    self.node.pid,
                    f"{self.node_url}/token",
                    method=post,
                    body="grant_type=client_credentials",
                    headers={"Authorization": self.node_auth},
                ),
            },
            "introspection": {
                "idp": lambda: self._wrk(
                    self.idp.pid,
                    f"{proto}/token/introspect",
                    method=post,
                    body=urlencode({"token": self.idp_token}),
                    headers=ours | {"Authorization": self.idp_auth},
                ),
                "node": lambda: self._wrk(
                    self.node.pid,
                    f"{self.node_url}/token/introspection",
                    method=post,
                    body=urlencode({"token": self.node_token}),
                    headers={"Authorization": self.node_opaque_auth},
                ),
            },
            "hello-world Flask route": {
                "idp": lambda: self._wrk(
                    self.hello.pid, f"http://127.0.0.1:{self.hello_port}/hello"
                ),
            },
            "password sign-ins": {"idp": self.sign_ins},
        }

    def sign_ins(self) -> load.Figures:
        a = self.args
        return load.sign_ins(
            self.idp.pid,
            self.idp_port,
            f"/realms/{setup.REALM}",
            (self.instance.client_id, self.idp_auth, setup.REDIRECT_URI),
            self.instance.users,
            setup.PASSWORD,
            seconds=a.seconds,
            concurrency=a.sign_in_concurrency,
            headers=setup.PROXY_HEADERS,
        )

    # -- rounds ---------------------------------------------------------------------------

    def selected(self) -> dict[str, dict[str, Callable[[], load.Figures]]]:
        """The rows chosen with ``--only`` (every row by default)."""
        table = self.endpoints()
        wanted = [w.strip().lower() for w in self.args.only.split(",") if w.strip()]
        if not wanted:
            return table
        return {k: v for k, v in table.items() if any(k.lower().startswith(w) for w in wanted)}

    def run(self) -> None:
        table = self.selected()
        for name, sides in table.items():  # warm every worker up once
            for warm in sides.values():
                if name != "password sign-ins":
                    warm()
        for r in range(self.args.rounds):
            print(f"round {r + 1}/{self.args.rounds}", file=sys.stderr, flush=True)
            for name, sides in table.items():
                order = list(sides.items())
                for side, measure in order if r % 2 == 0 else order[::-1]:
                    self.results.setdefault((name, side), []).append(measure())
            if "password sign-ins" in table:
                self.ceilings.append(load.argon2_ceiling(self.args.workers, self.args.seconds))

    def median(self, name: str, side: str) -> load.Figures | None:
        runs = self.results.get((name, side))
        if not runs:
            return None
        middle = statistics.median_low([f.rate for f in runs])
        return next(f for f in runs if f.rate == middle)


def _cell(f: load.Figures | None) -> str:
    if f is None:
        return f"{'-':>9} {'-':>7} {'-':>7} {'-':>6}"
    errors = f" ({f.errors} errors)" if f.errors else ""
    return f"{f.rate:9.0f} {f.p99_ms:7.1f} {f.cpu_ms:7.2f} {f.rss_mb:6.0f}{errors}"


def report(bench: Bench) -> None:
    a = bench.args
    print(
        f"\n{a.workers} worker process(es) each side, {a.rounds} alternating rounds of "
        f"{a.seconds:.0f} s, wrk -t2 -c{a.connections}; medians. "
        "CPU = server CPU ms per request; RSS = largest worker, MB."
    )
    head = f"{'req/s':>9} {'p99 ms':>7} {'CPU ms':>7} {'RSS':>6}"
    print(f"\n{'endpoint':<28} | {'idp serve (granian)':^32} | {'oidc-provider 9':^32} | ratio")
    print(f"{'':<28} | {head} | {head} |")
    for name in bench.endpoints():
        ours, theirs = bench.median(name, "idp"), bench.median(name, "node")
        ratio = f"{ours.rate / theirs.rate:5.2f}x" if ours and theirs and theirs.rate else "  n/a"
        print(f"{name:<28} | {_cell(ours)} | {_cell(theirs)} | {ratio}")
    print(
        "  oidc-provider has no account store and no password check (its devInteractions "
        "accept any login), so it has no sign-in row;\n  its introspection row uses an "
        "opaque token, since it refuses to introspect its JWT access tokens."
    )
    hello = bench.median("hello-world Flask route", "idp")
    ceiling = statistics.median(c for c, _ in bench.ceilings) if bench.ceilings else 0.0
    per_hash = statistics.median(ms for _, ms in bench.ceilings) if bench.ceilings else 0.0
    print("\nTargets")
    if hello:
        for name in ("discovery", "JWKS"):
            if f := bench.median(name, "idp"):
                share = f.rate / hello.rate
                print(f"  {name} / hello-world: {share:5.2f}  (target >= 0.80)")
    for name in ("token (client_credentials)", "introspection"):
        ours, theirs = bench.median(name, "idp"), bench.median(name, "node")
        if ours and theirs:
            print(f"  {name} / oidc-provider: {ours.rate / theirs.rate:5.2f}  (target >= 0.50)")
    if (signs := bench.median("password sign-ins", "idp")) and ceiling:
        print(
            f"  sign-ins / argon2id ceiling: {signs.rate:.1f} / {ceiling:.1f} = "
            f"{signs.rate / ceiling:5.2f}  (target >= 0.85)"
        )
        print(
            f"    server CPU per sign-in {signs.cpu_ms:.1f} ms, of which one argon2id "
            f"verification {per_hash:.1f} ms: {signs.cpu_ms - per_hash:.1f} ms for the six "
            f"requests (CPU used {signs.rate * signs.cpu_ms / 10 / a.workers:.0f}% of "
            f"{a.workers} cores)"
        )
    worst = max(
        f.rss_mb for (_, side), runs in bench.results.items() for f in runs if side == "idp"
    )
    print(f"  RSS per worker under load: at most {worst:.0f} MB  (target <= 100)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m idp.bench.compare", description=__doc__)
    parser.add_argument("--workers", type=int, default=usable_cores())
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--sign-in-concurrency", type=int, default=16)
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated endpoint names to measure (e.g. discovery,JWKS,hello,token); "
        "a name matches any row that starts with it. Default: every row.",
    )
    args = parser.parse_args(argv)
    if not load.have_wrk():
        raise SystemExit("wrk is needed (apt-get install wrk)")
    if not (NODE_APP / "node_modules" / "oidc-provider").exists():
        raise SystemExit(f"run `npm ci` in {NODE_APP} first (make bench-compare does)")
    with setup.bench_database() as url, tempfile.TemporaryDirectory() as tmp:
        print(f"setting up {args.users} users in {setup.DATABASE}", file=sys.stderr)
        instance = setup.prepare(url, tmp, args.users)
        bench = Bench(args, Path(tmp), instance)
        try:
            bench.start()
            bench.run()
        finally:
            bench.stop()
        report(bench)


if __name__ == "__main__":
    main()
