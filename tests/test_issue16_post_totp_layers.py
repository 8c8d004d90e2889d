"""Issue 16, "a stage owns its step": one ``POST /totp`` of a password + TOTP sign-in builds
its stage context once, reads the trusted browser once, and goes down the layers and back
once.

How it is counted, on a real sign-in over HTTP against the live server:

- **Stage contexts**: ``StageContext.__init__`` is wrapped (it calls through) and counts
  every context the request builds.
- **Trusted-browser reads**: a SQLAlchemy ``before_cursor_execute`` listener on the app's
  engine (``tests/support/queries.py``) keeps every statement the POST runs; the ones that
  name the ``trusted_browser`` table are counted. The browser holds a trust cookie from an
  earlier sign-in (without one there is nothing to read): a trust revoked since, which the
  trust stage must look up to find it gone, and a trust that ``prompt=login`` keeps from
  standing in for the code (SPEC P8).
- **Layer crossings**: a profile hook on the request's thread (``threading.setprofile``: the
  live server runs each request on a new thread) records each call from a function of the
  hosted sign-in's view modules (``idp.web.login*``) into ``idp.interaction`` or
  ``idp.services`` (building a plain-data argument, an ``__init__``, left out): one such
  call is one trip down the layers and back.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any
from urllib.parse import urljoin

import pytest

from idp.db import get_session
from idp.interaction.stages import StageContext
from idp.models import User
from idp.services import trusted_browsers
from idp.services.trusted_browsers import COOKIE
from tests.helpers import Browser, Page, totp_code, wait_for_step_room
from tests.support.flows import authorize_url
from tests.support.queries import counted_queries

VIEW_MODULES = ("idp.web.login",)  # login, login_codes, login_keys, login_pages, login_bp...
LOWER_LAYERS = ("idp.interaction", "idp.services")


@contextmanager
def counted_contexts(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[StageContext]]:
    built: list[StageContext] = []
    real_init = StageContext.__init__

    def counting_init(self: StageContext, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        built.append(self)

    monkeypatch.setattr(StageContext, "__init__", counting_init)
    try:
        yield built
    finally:
        monkeypatch.setattr(StageContext, "__init__", real_init)


@contextmanager
def counted_crossings() -> Iterator[list[str]]:
    """Calls from the sign-in's view modules into the interaction or service layer, made on
    threads started inside the block (the request's)."""
    seen: list[str] = []

    def profile(frame: FrameType, event: str, _arg: Any) -> None:
        if event != "call" or frame.f_back is None:
            return
        callee = frame.f_globals.get("__name__", "")
        caller = frame.f_back.f_globals.get("__name__", "")
        # Building the plain data handed down (a dataclass) is no trip down the layers.
        if frame.f_code.co_name == "__init__":
            return
        if caller.startswith(VIEW_MODULES) and callee.startswith(LOWER_LAYERS):
            seen.append(
                f"{caller}.{frame.f_back.f_code.co_name} -> {callee}.{frame.f_code.co_name}"
            )

    threading.setprofile(profile)
    try:
        yield seen
    finally:
        threading.setprofile(None)  # type: ignore[arg-type]
        sys.setprofile(None)


def field(page: Page, name: str) -> str:
    return next(v for n, v, _ in page.forms[-1]["fields"] if n == name)


def to_code_page(browser: Browser, url: str, user: Any) -> Page:
    page = browser.get(url)
    page = browser.submit(page, {"email": user.email, "password": user.password})
    assert page.status == 200 and "/totp" in page.url, (page.url, page.text)
    return page


def only_the_trust_cookie(realm: Any, browser: Browser) -> Browser:
    fresh = realm.browser()
    for cookie in browser.session.cookies:
        if cookie.name == COOKIE:
            fresh.session.cookies.set_cookie(cookie)
    return fresh


@pytest.fixture
def trusting(realm: Any, rp: Any) -> tuple[Any, Browser, Any]:
    """A realm that allows trusted browsers and a browser that trusts the TOTP user: it
    signed in once with "Trust this browser" ticked."""
    realm.set_policy(trust_browser_days=30)
    user = realm.user(with_totp=True)
    wait_for_step_room(4.0)
    browser = realm.browser()
    page = to_code_page(browser, authorize_url(realm, rp), user)
    browser.submit(page, {"code": totp_code(user.totp_secret, 0), "trust": "yes"})
    assert browser.left_to and browser.left_to.startswith(rp.redirect_uri), page.text
    assert any(c.name == COOKIE for c in browser.session.cookies)
    return realm, browser, user


def post_code(
    browser: Browser, page: Page, code: str, app: Any, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[StageContext], list[str], list[str]]:
    """POST the code page's form, counted: the stage contexts built, the statements that
    name the trusted-browser table, the crossings down. The POST finishes the sign-in."""
    data = {"csrf_token": field(page, "csrf_token"), "code": code}
    target = urljoin(page.url, page.forms[-1]["action"] or page.url)
    with (
        counted_contexts(monkeypatch) as contexts,
        counted_queries(app) as statements,
        counted_crossings() as crossings,
    ):
        resp = browser.session.post(target, data=data, allow_redirects=False, timeout=30)
    assert resp.status_code in (302, 303), resp.text
    assert "/auth/resume/" in resp.headers["Location"], resp.headers["Location"]
    trusted = [s for s in statements if "trusted_browser" in s]
    print(f"\nPOST /totp: {len(contexts)} stage context(s), {len(statements)} statements,")
    print(f"{len(trusted)} on trusted_browser, {len(crossings)} crossing(s) down:")
    print("\n".join(f"  {c}" for c in crossings))
    return contexts, trusted, crossings


def test_post_totp_builds_one_context_reads_the_trust_once_and_crosses_once(
    trusting: tuple[Any, Browser, Any], rp: Any, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trust the browser holds was revoked (on the 2FA page of another browser): the
    code page shows, and the trust stage must look the cookie up to know."""
    realm, browser, user = trusting
    with app.app_context():
        db = get_session()
        assert trusted_browsers.void_trusts(db, db.get(User, user.id)) == 1
        db.commit()
    # The same browser after its session ended: only the trust cookie is left.
    browser = only_the_trust_cookie(realm, browser)
    page = to_code_page(browser, authorize_url(realm, rp, nonce="n2", state="s2"), user)
    contexts, trusted, crossings = post_code(
        browser, page, totp_code(user.totp_secret, 1), app, monkeypatch
    )
    assert len(contexts) == 1, contexts
    assert len(trusted) == 1, trusted
    assert trusted[0].lstrip().upper().startswith("SELECT"), trusted
    assert len(crossings) == 1, crossings


def test_post_totp_with_prompt_login_reads_the_trust_at_most_once(
    trusting: tuple[Any, Browser, Any], rp: Any, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``prompt=login``: the trust may not stand in for the code (SPEC P8), so whether the
    browser holds one need not be read at all."""
    realm, browser, user = trusting
    again = authorize_url(realm, rp, prompt="login", nonce="n2", state="s2")
    page = to_code_page(browser, again, user)
    contexts, trusted, crossings = post_code(
        browser, page, totp_code(user.totp_secret, 1), app, monkeypatch
    )
    assert len(contexts) == 1, contexts
    assert len(trusted) <= 1, trusted
    assert len(crossings) == 1, crossings
