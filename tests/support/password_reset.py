"""Steps of the forgot-password flow (issue 9) that the reset and lockout tests share: ask
for a link as a browser would, read it from the mail that reached the SMTP server, follow
it and choose a new password; and sign in to a relying party for tokens."""

from __future__ import annotations

from typing import Any

import requests

from tests.helpers import Browser, Page, totp_code
from tests.oidc_rp import RP

NEW_PASSWORD = "a new passphrase from the link"
SENT_TEXT = "If an account uses this address, we have sent it a link"
INVALID_TEXT = "This link is no longer valid"
RESET_NOTICE = "Your password is reset, and every device is signed out."


def forgot_page(browser: Browser, realm: Any) -> Page:
    page = browser.get(realm.url("forgot-password"))
    assert page.status == 200 and 'id="forgot-form"' in page.text, page.text
    return page


def ask_for_link(browser: Browser, realm: Any, email: str, page: Page | None = None) -> Page:
    """Submit "Forgot your password?" for ``email`` (from ``page``, or the standalone one)."""
    page = page or forgot_page(browser, realm)
    return browser.submit(page, {"email": email}, action="/forgot-password")


def reset_mail(mailbox: Any, email: str) -> Any:
    return mailbox.one(email, "Reset your password")


def reset_link(mailbox: Any, email: str) -> str:
    """The one link of the (one) reset message to ``email``."""
    mail = reset_mail(mailbox, email)
    links = [link for link in mail.links() if "/reset-password/" in link]
    assert len(links) == 1, mail.text
    assert links[0] in mail.html, "the HTML part carries the same link"
    link: str = links[0]
    return link


def choose_password(browser: Browser, link: str, new: str = NEW_PASSWORD) -> Page:
    """Follow the emailed link and set ``new`` (twice)."""
    form = browser.get(link)
    assert form.status == 200 and 'id="reset-form"' in form.text, form.text
    return browser.submit(form, {"new_password": new, "confirm_password": new})


def sign_in_for_tokens(
    realm: Any, client: RP, email: str, password: str, secret: str | None = None
) -> tuple[Browser, dict[str, Any]]:
    """A fresh browser signs in to ``client`` (with a TOTP code when ``secret``) and
    exchanges the code for tokens."""
    browser = realm.browser()
    flow = client.start()
    page = browser.submit(browser.get(flow.url), {"email": email, "password": password})
    if secret is not None:
        assert "/totp" in page.url, page.text
        page = browser.submit(page, {"code": totp_code(secret)})
    assert browser.left_to and browser.left_to.startswith(client.redirect_uri), page.text
    return browser, client.finish(flow, browser)


def refresh_status(client: RP, rp: Any, refresh_token: str) -> tuple[int, str]:
    answer = requests.post(
        client.meta["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=(rp.client_id, rp.client_secret),
        timeout=10,
    )
    return answer.status_code, answer.json().get("error", "")


def signed_in(realm: Any, browser: Browser) -> bool:
    """Whether ``browser`` still has a session: the account page opens without sign-in."""
    page = browser.get(realm.url("account/"))
    return page.status == 200 and 'name="password"' not in page.text
