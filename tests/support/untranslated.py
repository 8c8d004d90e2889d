"""Find text in templates that is not marked for translation (SPEC section 8).

Everything a person reads must go through ``_()`` / ``{% trans %}``; what is left after removing
Jinja expressions, statements, comments and trans blocks must not contain words.

    python -m tests.support.untranslated templates/login/*.html
"""

from __future__ import annotations

import re
import sys
from html.parser import HTMLParser
from pathlib import Path

#: Attributes whose values a person reads or hears.
READ_ATTRIBUTES = {"title", "alt", "aria-label", "placeholder", "aria-description"}
#: Words that are the same in every language (protocol names, product names).
ALLOWED = {"TOTP", "QR", "otpauth", "OpenID", "Connect", "OIDC", "JavaScript", "ID"}
_WORD = re.compile(r"[A-Za-z][A-Za-z'’]+")


def _strip_jinja(source: str) -> str:
    source = re.sub(r"\{#.*?#\}", " ", source, flags=re.S)
    source = re.sub(r"\{%-?\s*trans\b.*?endtrans\s*-?%\}", " ", source, flags=re.S)
    source = re.sub(r"\{\{.*?\}\}", " ", source, flags=re.S)
    source = re.sub(r"\{%.*?%\}", " ", source, flags=re.S)
    return source


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        kind = dict(attrs).get("type")
        for name, value in attrs:
            readable = name in READ_ATTRIBUTES or (
                name == "value" and tag == "input" and kind in ("submit", "button")
            )
            if readable and value:
                self._check(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self._check(data)

    def _check(self, text: str) -> None:
        words = [w for w in _WORD.findall(text) if w not in ALLOWED]
        if words:
            self.found.append(" ".join(text.split()))


def untranslated(path: Path) -> list[str]:
    collector = _Collector()
    collector.feed(_strip_jinja(path.read_text(encoding="utf-8")))
    collector.close()
    return collector.found


def main(paths: list[str]) -> int:
    bad = 0
    for name in paths:
        for text in untranslated(Path(name)):
            bad += 1
            print(f"{name}: {text}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
