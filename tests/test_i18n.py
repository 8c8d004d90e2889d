"""SPEC section 8: pages in English and Japanese, and catalogs that keep them so."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlencode

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from idp.db import get_session

from .conftest import RelyingParty as RP
from .conftest import TestRealm as Realm
from .support.flows import authorize_url
from .support.untranslated import untranslated

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "idp/translations/ja/LC_MESSAGES/messages.po"
MO = PO.with_suffix(".mo")


def _catalog():
    with PO.open("rb") as f:
        return read_po(f)


def _key(message) -> str:
    return message.id if isinstance(message.id, str) else message.id[0]


# -- the catalogs ------------------------------------------------------------------------------
def test_s8_every_message_has_a_japanese_translation() -> None:
    missing = [
        _key(m) for m in _catalog() if m.id and (not m.string or not all(m.string) or m.fuzzy)
    ]
    assert not missing, f"{len(missing)} messages lack a Japanese translation: {missing[:20]}"


def test_s8_catalog_is_not_stale_against_the_sources(tmp_path: Path) -> None:
    """``pybabel extract`` over the sources finds exactly the catalog's messages."""
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [
            str(Path(sys.executable).parent / "pybabel"), "-q", "extract",
            "-F", "babel.cfg", "-k", "_l", "-k", "lazy_gettext", "-k", "NC_:1c,2", "--no-location",
            "-o", str(pot), ".",
        ],
        cwd=ROOT,
        check=True,
    )  # fmt: skip
    with pot.open("rb") as f:
        extracted = {_key(m) for m in read_po(f) if m.id}
    in_catalog = {_key(m) for m in _catalog() if m.id}
    assert not extracted - in_catalog, (
        f"not in the catalog (make messages): {extracted - in_catalog}"
    )
    assert not in_catalog - extracted, f"no longer in the sources: {in_catalog - extracted}"


def test_s8_compiled_catalog_matches_the_po_file() -> None:
    def entry(m):  # a plural's forms: a list in .mo, a tuple in .po
        key = (m.context, _key(m))
        return key, tuple(m.string) if isinstance(m.string, list | tuple) else m.string

    with MO.open("rb") as f:
        compiled = dict(entry(m) for m in read_mo(f) if m.id)
    source = dict(entry(m) for m in _catalog() if m.id)
    assert compiled == source, "idp/translations/ja/LC_MESSAGES/messages.mo is stale: make messages"


def test_s8_help_page_wording_is_used() -> None:
    """The Japanese texts follow the help page (SPEC section 8)."""
    wording = {m.string for m in _catalog() if m.id and isinstance(m.string, str)}
    joined = "\n".join(wording)
    for phrase in ("個人設定", "2要素認証を設定する", "セキュリティコード", "認証する",
                   "2要素認証が有効化されました。", "バックアップコードをダウンロード",
                   "バックアップコードを使用してログインする", "解除する", "管理設定",
                   "ユーザー管理", "2要素認証を解除する"):  # fmt: skip
        assert phrase in joined, phrase


def test_s8_no_template_text_escapes_translation() -> None:
    found = {
        str(path.relative_to(ROOT)): texts
        for path in sorted((ROOT / "templates").rglob("*.html"))
        if (texts := untranslated(path))
    }
    assert not found, f"text not marked for translation: {found}"


# -- how the language is chosen ------------------------------------------------------------------
def _lang(html: str) -> str:
    found = re.search(r'<html lang="([^"]+)"', html)
    assert found, html[:200]
    return found.group(1)


def test_s8_ui_locales_is_kept_for_the_whole_sign_in(realm: Realm, rp: RP) -> None:
    browser = realm.browser()
    browser.session.headers["Accept-Language"] = "en-US,en;q=0.9"
    page = browser.get(authorize_url(realm, rp, ui_locales="fr ja-JP en"))
    assert _lang(page.text) == "ja"
    assert 'aria-label="言語"' in page.text
    again = browser.get(page.url)  # a reload: no ui_locales in the page's own URL
    assert _lang(again.text) == "ja"
    # Another tab without ui_locales: the browser's language.
    other = browser.get(realm.url("account"))
    assert _lang(other.text) == "en"


def test_s8_accept_language_then_realm_default(realm: Realm, rp: RP) -> None:
    browser = realm.browser()
    browser.session.headers["Accept-Language"] = "ja,en-US;q=0.8"
    assert _lang(browser.get(authorize_url(realm, rp)).text) == "ja"
    browser = realm.browser()
    browser.session.headers["Accept-Language"] = "de-DE"
    assert _lang(browser.get(authorize_url(realm, rp)).text) == "en"
    with realm.server.app.app_context():
        from idp.models import Realm

        db = get_session()
        db.get(Realm, realm.id).default_locale = "ja"
        db.commit()
    assert _lang(browser.get(authorize_url(realm, rp)).text) == "ja"


def test_s8_language_switch_is_remembered_and_outranks_ui_locales(realm: Realm, rp: RP) -> None:
    browser = realm.browser()
    browser.session.headers["Accept-Language"] = "en"
    page = browser.get(authorize_url(realm, rp, ui_locales="ja"))
    assert _lang(page.text) == "ja"
    switch = page.link("English")
    assert _lang(browser.get(switch).text) == "en"
    # The sign-in keeps the switched language, and so does the rest of the site.
    assert _lang(browser.get(page.url).text) == "en"
    to_ja = browser.get(realm.url("account")).link("日本語")
    assert _lang(browser.get(to_ja).text) == "ja"
    assert _lang(browser.get(realm.url("account")).text) == "ja"


def test_s8_discovery_lists_both_languages(realm: Realm) -> None:
    import requests

    doc = requests.get(realm.url(".well-known/openid-configuration"), timeout=10).json()
    assert doc["ui_locales_supported"] == ["en", "ja"]


@pytest.mark.parametrize("value", ["xx", "../ja", "<b>ja</b>", ""])
def test_s8_odd_lang_values_are_ignored(realm: Realm, value: str) -> None:
    browser = realm.browser()
    browser.session.headers["Accept-Language"] = "en"
    page = browser.get(realm.url("account") + "?" + urlencode({"lang": value}))
    assert page.status in (200, 400)
    assert _lang(page.text) == "en" if page.status == 200 else True
