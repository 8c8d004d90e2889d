"""Reading what a hosted page says in HTTP tests: its error, notices, a field, its CSRF token."""

from __future__ import annotations

import html
import re

from tests.helpers import Page


def error_text(page: Page) -> str:
    match = re.search(r'<p class="error" role="alert" id="error">(.*?)</p>', page.text, re.S)
    assert match, page.text
    return html.unescape(match.group(1)).strip()


def csrf_token(page: Page) -> str:
    for form in page.forms:
        for name, value, _ in form["fields"]:
            if name == "csrf_token" and value:
                return str(value)
    raise AssertionError(f"no CSRF token on {page.url}")


def notices(page: Page) -> list[str]:
    return re.findall(r'<p class="notice" role="status">(.*?)</p>', page.text, re.S)


def text_of(page: Page) -> str:
    return html.unescape(page.text)
