"""Languages of the pages (SPEC section 8): English and Japanese, with Flask-Babel.

The language of a page is, in order:

1. the language switch on this request (``?lang=ja``), which is also remembered in a cookie;
2. ``ui_locales`` of the authorization request, kept for the whole sign-in (the login pages
   call :func:`use_interaction_locale`);
3. the language cookie set by the switch earlier;
4. the browser's ``Accept-Language``;
5. the realm's default language (a realm setting, ``en`` unless changed).

The ``idp`` command speaks the language of the shell's locale (:func:`cli_locale`).

A switch made during a sign-in is kept by that sign-in, so it outranks its ``ui_locales``
from then on. Catalogs live in ``idp/translations``; ``make messages`` extracts, updates and
compiles them, and ``tests/test_i18n.py`` fails when one is stale or incomplete.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, Response, g, has_request_context, request
from flask_babel import Babel

LANGUAGES: tuple[str, ...] = ("en", "ja")
#: How each language names itself on the switch.
LANGUAGE_NAMES = {"en": "English", "ja": "日本語"}
LANG_COOKIE = "idp_lang"
_ONE_YEAR = 365 * 24 * 3600


def supported(tag: str | None) -> str | None:
    """The supported language a BCP 47 tag asks for (``ja-JP`` -> ``ja``), else None."""
    if not tag:
        return None
    primary = tag.strip().replace("_", "-").split("-", 1)[0].lower()
    return primary if primary in LANGUAGES else None


def from_ui_locales(value: str | None) -> str | None:
    """The first supported language of an OIDC ``ui_locales`` value (space-separated tags,
    in order of preference; OIDC Core 3.1.2.1)."""
    for tag in (value or "").split():
        if found := supported(tag):
            return found
    return None


def switched_locale() -> str | None:
    """The language picked with the switch on this request, if any."""
    switched: str | None = g.get("idp_switched_locale")
    return switched


def use_locale(code: str | None) -> None:
    """Render this request in ``code`` (when supported) unless the switch was used."""
    if code and code in LANGUAGES and not switched_locale():
        g.idp_locale = code


def use_interaction_locale(progress: dict[str, Any], params: dict[str, Any]) -> str | None:
    """Apply a sign-in's language: one switched to during it (``progress["locale"]``), else
    its ``ui_locales``. Returns a language to store in the progress when the switch was used
    on this request, so the rest of the sign-in keeps it."""
    if switched := switched_locale():
        return switched if progress.get("locale") != switched else None
    use_locale(progress.get("locale") or from_ui_locales(params.get("ui_locales")))
    return None


def cli_locale() -> str:
    """The language of ``idp`` command output: the POSIX locale of the shell
    (``LC_ALL``, then ``LC_MESSAGES``, then ``LANG``; ``ja_JP.UTF-8`` -> ``ja``), else English."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        if value := os.environ.get(name):
            return supported(value.split(".", 1)[0]) or "en"
    return "en"


def select_locale() -> str:
    if not has_request_context():
        return cli_locale()
    chosen: str | None = switched_locale() or g.get("idp_locale")
    if chosen:
        return chosen
    if cookie := supported(request.cookies.get(LANG_COOKIE)):
        return cookie
    if best := request.accept_languages.best_match(LANGUAGES):
        return best
    realm = g.get("idp_realm")
    return supported(getattr(realm, "default_locale", None)) or "en"


def current_locale() -> str:
    from flask_babel import get_locale

    locale = get_locale()
    return str(locale.language) if locale else "en"


def init_app(app: Flask, timezone: str) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "en")
    app.config["BABEL_DEFAULT_TIMEZONE"] = timezone
    Babel(app, locale_selector=select_locale)

    @app.before_request
    def _language_switch() -> None:
        if code := supported(request.args.get("lang")):
            g.idp_switched_locale = code

    @app.after_request
    def _remember_switch(response: Response) -> Response:
        if code := switched_locale():
            response.set_cookie(
                LANG_COOKIE,
                code,
                max_age=_ONE_YEAR,
                secure=request.is_secure,
                httponly=True,
                samesite="Lax",
            )
        return response

    @app.context_processor
    def _language_links() -> dict[str, Any]:
        def lang_url(code: str) -> str:
            args = request.args.copy()
            args["lang"] = code
            from urllib.parse import urlencode

            return request.path + "?" + urlencode(list(args.items(multi=True)))

        return {
            "lang_url": lang_url,
            "page_locale": current_locale,
            "LANGUAGES": LANGUAGES,
            "LANGUAGE_NAMES": LANGUAGE_NAMES,
        }
