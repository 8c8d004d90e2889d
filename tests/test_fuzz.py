"""A bounded, reproducible fuzz of every route of the app (issue 8, "Hostile input").

Hypothesis draws requests against every rule of the app's URL map, with every method the
rule accepts: odd path segments, known and odd parameter names with odd, over-long, repeated
or valid values, in the query and in the form, and odd ``Authorization``, ``Origin``,
``Accept-Language``, ``Content-Type`` headers and cookies. Four runs:

- the protocol endpoints and hosted sign-in, as nobody (a browser that started sign-ins);
- every route as nobody;
- every route as a signed-in admin, with a valid CSRF token in most forms;
- the machine endpoints (token, introspection, revocation, UserInfo, JWKS, discovery) from a
  browser that is signed in or not (its cookies are drawn), with any method, and bodies
  over the size limit (V7).

Any 5xx, a traceback in a body, or any log record at ERROR or above fails the test. The
runs are derandomized (the same examples every time, in CI and here) and bounded by
``IDP_FUZZ_EXAMPLES`` per run (default below); each prints how long it took. Requests go
through Flask's test client into the same app and database as the live server: no network,
so a few hundred examples take seconds.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.routing import Rule

from idp.web.failures import PROTOCOL_PATH
from tests.support.flows import CHALLENGE

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("IDP_FUZZ_EXAMPLES", "1000"))

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI is reproducible
    database=None,
    print_blob=True,
    suppress_health_check=list(HealthCheck),
)

#: Routes whose requests would end the admin's own session (they are fuzzed as nobody).
ENDS_OWN_SESSION = {
    "account.sign_out",
    "account.sign_out_everywhere",
    "account.sign_out_session",
    "protocol.logout",
}

PARAMETER_NAMES = [
    # OAuth 2.0 / OpenID Connect
    "client_id", "response_type", "redirect_uri", "scope", "state", "nonce", "prompt",
    "max_age", "login_hint", "id_token_hint", "acr_values", "claims", "ui_locales",
    "response_mode", "code_challenge", "code_challenge_method", "request", "request_uri",
    "registration", "grant_type", "code", "code_verifier", "refresh_token", "client_secret",
    "token", "token_type_hint", "access_token", "post_logout_redirect_uri", "logout_hint",
    # the pages' forms
    "email", "password", "current_password", "new_password", "confirm_password", "action",
    "trust", "verified", "q", "page", "type", "user", "v", "display_name", "default_locale",
    "accent_color", "remove_logo", "grace_days", "trust_browser_days", "require_2fa",
]  # fmt: skip

ODD_VALUES = [
    "", " ", '"', "\\", "\t", "\n", "\r\n", "é", "\u2028", "\ufeff", "\U0001f600", "%", "%ff",
    "%00", "'", "<script>", "../..", "//evil.example", "-1", "0", "1e309", "NaN",
    "99999999999999999999",
    "-99999999999999999999", "null", "[]", "{}", '{"id_token": {"acr": {"essential": true}}}',
    '{"id_token": {"acr": {"essential": true, "values": [1, {}]}}}', "a.b.c", "e30.e30.",
    "none", "login", "none login", "code id_token", "token", "plain", "S256", "query",
    "fragment", "form_post", "openid", "openid offline_access", "authorization_code",
    "refresh_token", "client_credentials", "password", "urn:x", "true", "false", "on",
    "disable", "enable", "ja", "en", "*", "ja;q=x", "#fff", "#zzzzzz",
]  # fmt: skip


def _long(unit: str, size: int) -> str:
    return unit * size


odd_text = st.text(max_size=40)
long_text = st.builds(
    _long, st.sampled_from(["a", "é", '"', "%", "0", "9", "\\", " "]), st.integers(200, 9000)
)


@dataclass
class Context:
    """What the fuzz knows of the realm: names and values that lead deeper into a flow."""

    realm: str
    good_values: list[str]
    user_ids: list[int]
    uids: list[str]
    basic: list[str]
    bearer: list[str]
    csrf: str | None = None
    cookies: dict[str, str] = field(default_factory=dict)


class _ErrorRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def error_log(app: Flask) -> Iterator[_ErrorRecords]:
    """Every log record at ERROR or above while the test runs (the root logger's, and the
    app's when it does not propagate)."""
    handler = _ErrorRecords()
    loggers = [logging.getLogger()]
    if not app.logger.propagate:
        loggers.append(app.logger)
    for logger in loggers:
        logger.addHandler(handler)
    yield handler
    for logger in loggers:
        logger.removeHandler(handler)


# -- the realm's furniture ------------------------------------------------------------------
def _csrf_of(html: str) -> str | None:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    return match.group(1) if match else None


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _follow(client: FlaskClient, resp: Any) -> Any:
    for _ in range(10):
        if resp.status_code not in (301, 302, 303):
            return resp
        resp = client.get(_path(resp.headers["Location"]))
    return resp


def _sign_in(client: FlaskClient, realm: Any, user: Any, path: str) -> Any:
    page = _follow(client, client.get(f"/realms/{realm.name}/{path}"))
    assert 'name="password"' in page.get_data(as_text=True)
    form = {
        "csrf_token": _csrf_of(page.get_data(as_text=True)),
        "email": user.email,
        "password": user.password,
    }
    page = _follow(client, client.post(_path(page.request.url), data=form))
    assert page.status_code == 200, page.status_code
    return page


def _context(app: Flask, realm: Any, rp: Any, *, admin: Any | None) -> tuple[Context, FlaskClient]:
    public_id, _ = realm.client(public=True)
    victim = realm.user(with_totp=True)
    token = requests.post(
        realm.endpoints["token"],
        data={"grant_type": "client_credentials", "scope": "openid"},
        auth=(rp.client_id, rp.client_secret),
        timeout=10,
    ).json()
    client = app.test_client()
    uids = []
    for path in ("account/", "admin/users"):
        resp = client.get(f"/realms/{realm.name}/{path}")
        uids.append(resp.headers["Location"].rsplit("/", 1)[-1])
    auth = client.get(
        f"/realms/{realm.name}/protocol/openid-connect/auth?"
        + urlencode(
            {
                "client_id": rp.client_id,
                "redirect_uri": rp.redirect_uri,
                "response_type": "code",
                "scope": "openid",
                "code_challenge": CHALLENGE,
                "code_challenge_method": "S256",
            }
        )
    )
    uids.append(auth.headers["Location"].rsplit("/", 1)[-1])
    basic = [
        "Basic " + base64.b64encode(f"{rp.client_id}:{rp.client_secret}".encode()).decode(),
        "Basic " + base64.b64encode(f"{public_id}:".encode()).decode(),
    ]
    good = [
        rp.client_id, public_id, rp.redirect_uri, rp.post_logout, "code", "openid",
        CHALLENGE, "S256", victim.email, victim.password, token["access_token"],
        realm.issuer,
    ]  # fmt: skip
    ctx = Context(
        realm=realm.name,
        good_values=good,
        user_ids=[victim.id],
        uids=uids,
        basic=basic,
        bearer=["Bearer " + token["access_token"]],
    )
    if admin is not None:
        page = _sign_in(client, realm, admin, "admin/users")
        ctx.csrf = _csrf_of(page.get_data(as_text=True))
        ctx.user_ids.append(admin.id)
        ctx.good_values += [admin.email, admin.password]
    return ctx, client


# -- strategies -----------------------------------------------------------------------------
def _segment(ctx: Context, converter: str) -> st.SearchStrategy[str]:
    if converter.startswith("int"):
        return st.one_of(
            st.sampled_from(ctx.user_ids).map(str),
            st.integers(0, 10**25).map(str),
            st.sampled_from(
                [str(2**31 - 1), str(2**31), str(2**63), "9" * 20, "0" * 2100 + "1", "-1", "1.5"]
            ),
        )
    return st.one_of(
        st.sampled_from(ctx.uids),
        odd_text.filter(bool).map(lambda s: quote(s, safe="")),
        long_text.map(lambda s: quote(s, safe="")),
    )


VARIABLE = re.compile(r"<(?:([^:>]+):)?([^>]+)>")


def _url(draw: Any, rule: Rule, ctx: Context) -> str:
    def fill(match: re.Match[str]) -> str:
        converter, name = match.group(1) or "default", match.group(2)
        if name == "realm":
            return draw(st.sampled_from([ctx.realm, ctx.realm, ctx.realm, "nope"]))
        return draw(_segment(ctx, converter))

    return VARIABLE.sub(fill, rule.rule)


def _value(ctx: Context) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(ctx.good_values),
        st.sampled_from(ODD_VALUES),
        odd_text,
        long_text,
    )


header_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=60,
)


def _headers(ctx: Context) -> st.SearchStrategy[dict[str, str]]:
    authorization = st.one_of(
        st.sampled_from(ctx.basic + ctx.bearer),
        st.binary(max_size=40).map(lambda b: "Basic " + base64.b64encode(b).decode()),
        st.sampled_from(["Basic /w==", "Basic", "Basic !!", "Bearer", "Bearer a b", "Digest x"]),
        header_text.map(lambda s: "Bearer " + s),
        header_text,
    )
    return st.fixed_dictionaries(
        {},
        optional={
            "Authorization": authorization,
            "Origin": st.one_of(st.just("http://127.0.0.1:9"), header_text),
            "Accept-Language": st.one_of(st.sampled_from(["ja", "en;q=0.1, ja", "*"]), header_text),
            "Content-Type": st.sampled_from(
                [
                    "application/json",
                    "text/plain",
                    "multipart/form-data",
                    "application/x-www-form-urlencoded; charset=latin-1",
                ]
            ),
            "X-Forwarded-For": header_text,
        },
    )


@dataclass
class Probe:
    method: str
    url: str
    query: list[tuple[str, str]]
    form: list[tuple[str, str]]
    headers: dict[str, str]
    raw_tail: str

    def __repr__(self) -> str:  # what a failure prints
        short = lambda v: v if len(v) < 80 else f"{v[:40]}...({len(v)} chars)"  # noqa: E731
        return (
            f"Probe({self.method} {short(self.url)} query={[(k, short(v)) for k, v in self.query]}"
            f" form={[(k, short(v)) for k, v in self.form]} headers={self.headers}"
            f" raw={self.raw_tail!r})"
        )


#: Every method a browser or a script may send, for the runs that try wrong ones.
ANY_METHOD = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
#: A form body over the app's limit (``MAX_CONTENT_LENGTH``, 64 KiB): answered 413.
OVERSIZED = "&big=" + "a" * 70_000


@st.composite
def probes(draw: Any, rules: list[Rule], ctx: Context, *, any_method: bool = False) -> Probe:
    rule = draw(st.sampled_from(rules))
    method = draw(
        st.sampled_from(ANY_METHOD if any_method else sorted(rule.methods - {"HEAD", "OPTIONS"}))
    )
    url = _url(draw, rule, ctx)
    names = st.one_of(st.sampled_from(PARAMETER_NAMES), odd_text)
    pairs = draw(st.lists(st.tuples(names, _value(ctx)), max_size=8))
    query: list[tuple[str, str]] = []
    form: list[tuple[str, str]] = []
    for pair in pairs:
        (form if method == "POST" and draw(st.booleans()) else query).append(pair)
    if method == "POST" and ctx.csrf and draw(st.integers(0, 9)) > 1:
        form.append(("csrf_token", ctx.csrf))
    tails = ["", "", "", "&%ff=%fe", "&a=%", "&=&&", "&a"]
    raw_tail = draw(st.sampled_from(tails + [OVERSIZED] if any_method else tails))
    return Probe(method, url, query, form, draw(_headers(ctx)), raw_tail)


# -- the runs -------------------------------------------------------------------------------
def _rules(app: Flask, *, only: tuple[str, ...] = (), skip: set[str] = frozenset()) -> list[Rule]:  # type: ignore[assignment]
    rules = [
        r
        for r in app.url_map.iter_rules()
        if r.endpoint != "static" and r.endpoint not in skip
        and (not only or r.endpoint.startswith(only))
    ]  # fmt: skip
    return sorted(rules, key=lambda r: (r.rule, r.endpoint))


def _send(client: FlaskClient, probe: Probe) -> Any:
    oversized = probe.raw_tail == OVERSIZED
    tail = "" if oversized else probe.raw_tail
    query = urlencode(probe.query) + tail if probe.query or tail else ""
    headers = dict(probe.headers)
    content_type = headers.pop("Content-Type", "application/x-www-form-urlencoded")
    body = urlencode(probe.form) + OVERSIZED if probe.form or oversized else None
    return client.open(
        probe.url,
        method=probe.method,
        query_string=query.lstrip("&"),
        data=body,
        content_type=content_type if body is not None else None,
        headers=headers,
    )


STATUSES: Counter[int] = Counter()


def _check(client: FlaskClient, probe: Probe, errors: _ErrorRecords) -> None:
    before = len(errors.records)
    resp = _send(client, probe)
    STATUSES[resp.status_code] += 1
    body = resp.get_data(as_text=True)
    assert resp.status_code < 500, (resp.status_code, probe)
    assert "Traceback (most recent call last)" not in body, probe
    assert len(errors.records) == before, (
        [r.getMessage() for r in errors.records[before:]],
        probe,
    )


def _timed(name: str, capsys: Any, run: Any) -> None:
    STATUSES.clear()
    started = time.monotonic()
    run()
    spread = ", ".join(f"{code}: {n}" for code, n in sorted(STATUSES.items()))
    with capsys.disabled():
        print(f"\n{name}: {EXAMPLES} examples in {time.monotonic() - started:.1f} s ({spread})")


def test_fuzz_protocol_and_sign_in_as_nobody(app, realm, rp, error_log, capsys):
    ctx, client = _context(app, realm, rp, admin=None)
    rules = _rules(app, only=("protocol.", "login."))

    @FUZZ
    @given(probe=probes(rules, ctx))
    def run(probe: Probe) -> None:
        _check(client, probe, error_log)

    _timed("fuzz: protocol and sign-in, as nobody", capsys, run)


def test_fuzz_every_route_as_nobody(app, realm, rp, error_log, capsys):
    ctx, client = _context(app, realm, rp, admin=None)
    rules = _rules(app)

    @FUZZ
    @given(probe=probes(rules, ctx))
    def run(probe: Probe) -> None:
        _check(client, probe, error_log)

    _timed("fuzz: every route, as nobody", capsys, run)


def test_fuzz_every_route_as_a_signed_in_admin(app, realm, rp, error_log, capsys):
    admin = realm.user(admin=True)
    ctx, client = _context(app, realm, rp, admin=admin)
    rules = _rules(app, skip=ENDS_OWN_SESSION)

    @FUZZ
    @given(probe=probes(rules, ctx))
    def run(probe: Probe) -> None:
        _check(client, probe, error_log)

    _timed("fuzz: every route, as a signed-in admin", capsys, run)
    # The admin was still signed in at the end: the run reached the console's handlers.
    assert client.get(f"/realms/{realm.name}/admin/users").status_code in (200, 302)


def test_fuzz_machine_endpoints_with_a_signed_in_browser_cookie(app, realm, rp, error_log, capsys):
    """V7: the browser's cookies (the signed session cookie, ``IDP_SESSION``) mean nothing
    on the machine endpoints: a signed-in browser, a signed-out one and one with tampered
    cookies get the same kind of answer, never a 5xx, whatever the method or body."""
    ctx, nobody = _context(app, realm, rp, admin=None)
    signed_in = app.test_client()
    _sign_in(signed_in, realm, realm.user(), "account/")
    tampered = app.test_client()
    for cookie in list(signed_in._cookies.values()):  # copy the jar
        tampered.set_cookie(cookie.key, cookie.value[:-2] + "xx", domain=cookie.domain)
    assert {c.key for c in signed_in._cookies.values()} >= {"IDP_SESSION"}
    browsers = {"signed in": signed_in, "signed out": nobody, "tampered": tampered}
    rules = [r for r in _rules(app) if PROTOCOL_PATH.match(r.rule.replace("<realm>", ctx.realm))]
    assert len(rules) >= 5, [r.rule for r in rules]

    @FUZZ
    @given(
        probe=probes(rules, ctx, any_method=True),
        browser=st.sampled_from(["signed in", "signed in", "signed out", "tampered"]),
    )
    def run(probe: Probe, browser: str) -> None:
        _check(browsers[browser], probe, error_log)

    _timed("fuzz: machine endpoints, with a signed-in browser's cookies", capsys, run)
