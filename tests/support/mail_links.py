"""Steps the email-link tests share (issue 9): reading a link out of a received message,
the claims a relying party gets, the console's audit trail of a user."""

from __future__ import annotations

from typing import Any

import requests

from tests.helpers import Browser, Page
from tests.oidc_rp import RP, sign_in_password
from tests.support.console import audit_rows


def link_in(mail: Any, path_part: str) -> str:
    """The one link in ``mail``'s text whose path contains ``path_part``; the HTML part
    carries the same link."""
    links = [link for link in mail.links() if path_part in link]
    assert len(links) == 1, mail.text
    assert links[0] in mail.html.replace("&amp;", "&")
    link: str = links[0]
    return link


def email_claims(realm: Any, rp: Any, email: str, password: str) -> tuple[bool, bool]:
    """(ID token's email_verified, UserInfo's email_verified) after a fresh sign-in at the
    relying party ``rp``."""
    client = RP(realm.issuer, rp.client_id, rp.client_secret, rp.redirect_uri)
    browser = realm.browser()
    flow = client.start()
    page = sign_in_password(browser, flow.url, email, password)
    assert browser.left_to and browser.left_to.startswith(rp.redirect_uri), page.text
    token = client.finish(flow, browser)
    claims = client.verify_id_token(token["id_token"], nonce=flow.nonce)
    info = requests.get(
        client.meta["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {token['access_token']}"},
        timeout=10,
    ).json()
    assert claims["email"] == info["email"]
    return claims["email_verified"], info["email_verified"]


def events_of(browser: Browser, realm: Any, email: str) -> list[dict[str, str]]:
    """The audit log's rows about ``email``, newest first, as an admin's console shows them."""
    page = browser.get(realm.url("admin/audit") + f"?user={email}")
    assert page.status == 200, page.text
    return audit_rows(page)


def link_refused(page: Page) -> bool:
    return page.status == 400 and "This link does not work" in page.text
