"""Load and accounting for `make bench-compare`.

- Fixed requests (discovery, JWKS, token, introspection, hello-world) are driven by ``wrk``
  (Debian's package; C, keep-alive connections), so that the load generator takes as little of
  the shared cores as possible. A Lua ``done`` hook prints the figures in one line.
- Full password sign-ins are driven by :func:`sign_ins`: Python threads, one keep-alive
  connection per virtual user, six requests per sign-in (authorize, the sign-in page, the
  password page, the password, the resume, the code exchange).
- Server CPU comes from ``/proc/<pid>/stat`` (utime + stime) of every process of the server's
  tree, read before and after; RSS from ``/proc/<pid>/status`` after the load.
"""

from __future__ import annotations

import base64
import hashlib
import html
import http.client
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Figures:
    requests: int
    seconds: float
    p99_ms: float
    errors: int
    cpu_ms: float  # server CPU per request (or per sign-in)
    rss_mb: float  # the largest worker's resident memory after the run

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


# --- the server's processes -------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces: split after its closing parenthesis.
    return [str(pid), "comm", *raw[raw.rindex(")") + 2 :].split()]


def process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))):
            children.setdefault(int(stat[3]), []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def workers(root: int) -> list[int]:
    """The processes that serve requests: the root's descendants, or the root alone."""
    tree = process_tree(root)
    return tree[1:] or tree


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        if stat := _stat(pid):
            total += int(stat[13]) + int(stat[14])
    return total / CLK_TCK


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


# --- wrk -------------------------------------------------------------------------------

_LUA = """
wrk.method = "{method}"
{body}
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %d %d %.3f %d\\n", summary.requests, summary.duration,
    latency:percentile(99), e.status + e.connect + e.read + e.write + e.timeout))
end
"""


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def _lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def wrk(
    server_pid: int,
    url: str,
    *,
    seconds: float,
    connections: int,
    threads: int = 2,
    method: str = "GET",
    body: str | None = None,
    headers: dict[str, str] | None = None,
) -> Figures:
    headers = dict(headers or {})
    if body is not None:
        headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    script = _LUA.format(
        method=method,
        body=f"wrk.body = {_lua_string(body)}" if body is not None else "",
        headers="\n".join(
            f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items()
        ),
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(script)
    try:
        pids = process_tree(server_pid)
        before = cpu_seconds(pids)
        done = subprocess.run(  # noqa: S603 - wrk, fixed arguments
            [
                shutil.which("wrk") or "wrk",
                f"-t{threads}",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "10s",
                "-s",
                lua.name,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=True,
        )
        used = cpu_seconds(pids) - before
    finally:
        os.unlink(lua.name)
    line = next(x for x in done.stdout.splitlines() if x.startswith("BENCH "))
    count, micros, p99_us, errors = line.split()[1:]
    n = int(count)
    return Figures(
        requests=n,
        seconds=int(micros) / 1e6,
        p99_ms=float(p99_us) / 1000,
        errors=int(errors),
        cpu_ms=1000 * used / n if n else 0.0,
        rss_mb=max(rss_mb(pid) for pid in workers(server_pid)),
    )


# --- full password sign-ins ---------------------------------------------------------------


class _Agent:
    """One virtual user's browser: a keep-alive connection and a cookie jar."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.port, self.headers = port, headers
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookies: dict[str, str] = {}

    def request(
        self, method: str, target: str, body: dict[str, str] | None = None, **extra: str
    ) -> tuple[int, dict[str, str], str]:
        split = urlsplit(target)
        path = split.path + (f"?{split.query}" if split.query else "")
        headers = dict(self.headers) | extra
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = None
        if body is not None:
            data = urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                text = resp.read().decode()
                break
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt == 2:
                    raise
        for name, value in resp.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key.strip()] = rest.split(";", 1)[0]
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, text


_ACTION = re.compile(r'<form method="post" action="([^"]+)"')
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def sign_in(
    agent: _Agent, realm_path: str, client: tuple[str, str, str], email: str, pw: str
) -> None:
    """One full sign-in: authorize -> sign-in page -> password page -> password -> resume ->
    token."""
    client_id, basic, redirect_uri = client
    verifier = secrets.token_urlsafe(32)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    agent.cookies.clear()
    query = urlencode(
        {
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": "openid",
            "state": secrets.token_urlsafe(8),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    status, headers, _ = agent.request("GET", f"{realm_path}/protocol/openid-connect/auth?{query}")
    if status != 302:
        raise RuntimeError(f"authorize answered {status}")
    status, headers, page = agent.request("GET", headers["location"])
    while status == 302 and "/login/" in headers.get("location", ""):
        status, headers, page = agent.request("GET", headers["location"])
    if status != 200 or not (action := _ACTION.search(page)) or not (csrf := _CSRF.search(page)):
        raise RuntimeError(f"password page answered {status}")
    status, headers, _ = agent.request(
        "POST",
        html.unescape(action[1]),
        {"csrf_token": csrf[1], "email": email, "password": pw},
        Referer="https://id.example.com/",
    )
    if status != 303:
        raise RuntimeError(f"password answered {status}")
    status, headers, _ = agent.request("GET", headers["location"])
    location = headers.get("location", "")
    if status != 302 or not location.startswith(redirect_uri):
        raise RuntimeError(f"resume answered {status}")
    code = parse_qs(urlsplit(location).query)["code"][0]
    status, _, _ = agent.request(
        "POST",
        f"{realm_path}/protocol/openid-connect/token",
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
        Authorization=basic,
    )
    if status != 200:
        raise RuntimeError(f"token answered {status}")


def sign_ins(
    server_pid: int,
    port: int,
    realm_path: str,
    client: tuple[str, str, str],
    users: list[str],
    password: str,
    *,
    seconds: float,
    concurrency: int,
    headers: dict[str, str],
) -> Figures:
    """``concurrency`` virtual users sign in one after another, taking turns over ``users``
    (each virtual user comes from its own address), for ``seconds``."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    turn = iter(range(10**9))
    stop = time.monotonic() + seconds

    def run(n: int) -> None:
        agent = _Agent(port, headers | {"X-Forwarded-For": f"198.51.100.{n + 1}"})
        while time.monotonic() < stop:
            with lock:
                email = users[next(turn) % len(users)]
            start = time.perf_counter()
            try:
                sign_in(agent, realm_path, client, email, password)
            except (RuntimeError, OSError, http.client.HTTPException, KeyError):
                with lock:
                    errors[0] += 1
                continue
            with lock:
                latencies.append(time.perf_counter() - start)

    pids = process_tree(server_pid)
    before, started = cpu_seconds(pids), time.perf_counter()
    threads = [threading.Thread(target=run, args=(n,)) for n in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    used = cpu_seconds(pids) - before
    latencies.sort()
    n = len(latencies)
    return Figures(
        requests=n,
        seconds=elapsed,
        p99_ms=1000 * latencies[min(n - 1, int(n * 0.99))] if n else 0.0,
        errors=errors[0],
        cpu_ms=1000 * used / n if n else 0.0,
        rss_mb=max(rss_mb(pid) for pid in workers(server_pid)),
    )


# --- the argon2id ceiling ----------------------------------------------------------------


def _verify_loop(args: tuple[int, int, int, float]) -> tuple[int, float]:
    from argon2 import PasswordHasher

    time_cost, memory_kib, parallelism, seconds = args
    hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
    hashed = hasher.hash("benchmark password")
    count, stop, cpu = 0, time.monotonic() + seconds, time.process_time()
    while time.monotonic() < stop:
        hasher.verify(hashed, "benchmark password")
        count += 1
    return count, time.process_time() - cpu


def argon2_ceiling(processes: int, seconds: float) -> tuple[float, float]:
    """Verifications per second with ``processes`` processes verifying flat out, at the cost
    the settings give (IDP_ARGON2_*), and the CPU ms one verification takes."""
    from concurrent.futures import ProcessPoolExecutor

    from ..config import Settings

    d = Settings()
    cost = (
        int(os.environ.get("IDP_ARGON2_TIME_COST") or d.argon2_time_cost),
        int(os.environ.get("IDP_ARGON2_MEMORY_KIB") or d.argon2_memory_kib),
        int(os.environ.get("IDP_ARGON2_PARALLELISM") or d.argon2_parallelism),
        seconds,
    )
    with ProcessPoolExecutor(processes) as pool:
        runs = list(pool.map(_verify_loop, [cost] * processes))
    count = sum(n for n, _ in runs)
    return count / seconds, 1000 * sum(cpu for _, cpu in runs) / max(count, 1)
