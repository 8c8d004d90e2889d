"""Shared pieces of the real-browser tests (Debian's chromium driven by Playwright): launch
flags, page helpers, the phone-width and axe-core checks, and scanning a QR code from the
rendered pixels. The fixtures built on them (``chromium``, ``new_context``, ``test_rp``,
``axe_source``) are in tests/conftest.py."""

from __future__ import annotations

import io
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
SHOTS = Path("/tmp/shots")  # noqa: S108  (screenshots for a human look; never committed)
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
    assert width <= PHONE["width"], f"{page.url} is {width}px wide on a {PHONE['width']}px screen"


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
