"""Shared pieces of the real-browser tests (Debian's chromium driven by Playwright): launch
flags, page helpers, the phone-width and axe-core checks, and scanning a QR code from the
rendered pixels. The fixtures built on them (``chromium``, ``new_context``, ``test_rp``,
``axe_source``) are in tests/conftest.py."""

from __future__ import annotations

import io
import os
import re
import time
from pathlib import Path

import pyotp
import zxingcpp
from PIL import Image
from playwright.sync_api import Page, expect

from tests.rp_app import RunningRP

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
A11Y_DIR = Path(__file__).resolve().parent / "a11y"
#: The test output folder (IDP_TEST_OUTPUT, default test-output/ in the checkout; never
#: committed): the browser tests save their screenshots here, by language and width.
OUTPUT = Path(
    os.environ.get("IDP_TEST_OUTPUT") or Path(__file__).resolve().parent.parent / "test-output"
)
SHOTS = OUTPUT / "screenshots"
TIMEOUT_MS = 15_000
PHONE = {"width": 360, "height": 740}


def sign_in_with_password(page: Page, email: str, password: str) -> None:
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def expect_at_rp(page: Page, rp: RunningRP, email: str) -> str:
    """Wait for the RP's signed-in page and return its "amr=..., acr=..." line."""
    who = page.locator("#who")
    expect(who).to_contain_text(f"Signed in as {email}")
    assert page.url.startswith(rp.callback), page.url
    return who.inner_text()


def amr_of(line: str) -> list[str]:
    match = re.search(r"amr=([^ ]*),\s*acr=", line)
    assert match, line
    return match.group(1).split(",")


def acr_of(line: str) -> str:
    match = re.search(r"acr=(\S*)$", line.strip())
    assert match, line
    return match.group(1)


def open_menu_item(page: Page, email: str, item: str) -> None:
    menu = page.get_by_role("navigation", name="Account menu")
    menu.get_by_text(email, exact=True).click()
    target = menu.get_by_role("button" if item == "Sign out" else "link", name=item)
    target.click()


def fits_the_screen(page: Page) -> None:
    # A mobile browser widens its layout viewport to overflowing content, so compare with the
    # screen's width, not window.innerWidth.
    width = page.evaluate("document.documentElement.scrollWidth")
    if width > PHONE["width"]:
        wide = page.evaluate(
            """(limit) => [...document.querySelectorAll('body *')]
                .filter(e => e.getBoundingClientRect().right > limit)
                .slice(0, 5).map(e => `${e.tagName.toLowerCase()}.${e.className}#${e.id}`
                    + ` right=${Math.round(e.getBoundingClientRect().right)}`)""",
            PHONE["width"],
        )
        raise AssertionError(f"{page.url} is {width}px wide on a {PHONE['width']}px screen: {wide}")


def axe_violations(page: Page, axe_source: str) -> list[str]:
    page.evaluate(axe_source)
    found = page.evaluate(
        """async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a',
            'wcag21aa', 'best-practice']})).violations.map(
            v => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map(n => n.target).join(', ')}`)"""
    )
    return [f"{page.url}: {line}" for line in found]


def scan_qr(page: Page, shot: str | None = None) -> pyotp.TOTP:
    """Scan the page's QR code as a phone would: decode the rendered pixels, not the markup,
    and read the otpauth URI an authenticator app would store."""
    path = None
    if shot:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = str(SHOTS / shot)
    qr_png = page.locator(".qr svg").screenshot(path=path)
    scanned = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr_png)))
    assert [b.format for b in scanned] == [zxingcpp.BarcodeFormat.QRCode], scanned
    entry = pyotp.parse_uri(scanned[0].text)
    assert isinstance(entry, pyotp.TOTP), entry
    return entry


def shown_key(page: Page) -> str:
    """The key as the page shows it for typing by hand, without its grouping spaces."""
    key = re.sub(r"\s+", "", page.locator("#key").inner_text())
    assert re.fullmatch(r"[A-Z2-7]{16,}", key), key
    return key


def wrong_code(app: pyotp.TOTP) -> str:
    """A well-formed code that is certainly not accepted now (nor one step either side)."""
    near = {app.at(time.time() + d) for d in (-30, 0, 30)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in near)


#: Three English words in a row: text that escaped translation (SPEC section 8).
ENGLISH_RUN = re.compile(r"\b[A-Za-z]{2,}(?:[ ,.'’]+[A-Za-z]{2,}){2,}\b")


def english_left(page: Page, *allowed: str) -> list[str]:
    """English sentences in the page's visible text, leaving out ``<code>`` (event types,
    client ids) and ``allowed`` (what the test put there: addresses, names)."""
    text = page.evaluate(
        """() => { const body = document.body.cloneNode(true);
            body.querySelectorAll('code, kbd, script, [hidden]').forEach(e => e.remove());
            return body.innerText; }"""
    )
    for value in sorted(allowed, key=len, reverse=True):
        text = text.replace(value, " ")
    return ENGLISH_RUN.findall(text)


def japanese_page(page: Page, *allowed: str) -> None:
    """The page is in Japanese: ``<html lang="ja">`` and no English sentence in its text."""
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    left = english_left(page, *allowed)
    assert not left, (page.url, left)
