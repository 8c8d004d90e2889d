"""How dates, times, zones and short lists read for people.

One way to show a date and a time everywhere a person reads one (issue 15): the pages, the
console, the mails and the backup-code file.

A moment reads as the locale's medium date and short time, in the provider's time zone
(``IDP_TIMEZONE``): ``2026/12/07 10:39`` in Japanese, ``Dec 7, 2026, 10:39 AM`` in English;
a day alone is its date part. The zone is named in words its readers use (``日本時間``,
``Japan Time``), from the Unicode CLDR names that Babel ships.

Sentences put side by side by code are joined with a space in English and without one in
Japanese (:func:`join_sentences`). Lists of a few words or numbers read ``1, 2, 3`` or
``1、2、3`` (:func:`list_words`).

Templates use the filters ``|when``, ``|day``, ``|list_words`` and ``|email_breaks``, and
the function ``join_sentences`` (registered by :func:`init_app`); Python code calls the
functions. All need an app context (the zone and the language are Flask-Babel's).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, tzinfo

from babel import Locale
from babel.dates import get_timezone_name
from babel.lists import format_list
from flask import Flask
from flask_babel import format_date, format_time, get_locale, get_timezone
from markupsafe import Markup, escape


def _locale() -> Locale:
    return get_locale() or Locale.parse("en")


def format_day(moment: datetime) -> str:
    """The date of ``moment`` in the display zone (``2026/12/07``, ``Dec 7, 2026``)."""
    return str(format_date(moment, "medium"))


def format_when(moment: datetime) -> str:
    """``moment`` as date and time to the minute, in the display zone and the language of
    the page or mail (``2026/12/07 10:39``, ``Dec 7, 2026, 10:39 AM``)."""
    pattern = _locale().datetime_formats["medium"]
    date = format_date(moment, "medium")
    time = format_time(moment, "short")
    return str(pattern).replace("{1}", str(date)).replace("{0}", str(time))


def zone_name(zone: tzinfo | None = None) -> str:
    """The display zone as its readers name it: ``日本時間`` or ``Japan Time`` for
    Asia/Tokyo, ``UTC`` for UTC; the zone's identifier when CLDR has no name for it."""
    zone = zone or get_timezone()
    key = str(zone)
    if key in ("UTC", "Etc/UTC", "Etc/GMT", "GMT", "Universal", "Zulu"):
        return "UTC"
    try:
        name = get_timezone_name(zone, width="long", locale=_locale())
    except (LookupError, ValueError):  # a zone Babel cannot name: its identifier
        return key
    # CLDR's fallback for a zone it has no name for reads "Unknown Region (...)".
    return key if not name or "(" in name or "（" in name else name


def list_words(items: Iterable[object]) -> str:
    """A short list in the page's language: ``1, 2, 3`` in English, ``1、2、3`` in Japanese."""
    words = [str(item) for item in items]
    # type: ignore: Babel's Literal leaves out "standard-narrow", a CLDR style it supports
    # (babel.lists._style_fallbacks); "standard" would add "and" in English.
    return format_list(words, style="standard-narrow", locale=_locale())  # type: ignore[arg-type]


def join_sentences(*parts: str) -> str:
    """Sentences one after the other: with a space in English, none in Japanese (whose
    sentences end in 。). Markup stays markup; other parts are escaped when one is markup."""
    sep = "" if _locale().language == "ja" else " "
    if any(isinstance(part, Markup) for part in parts):
        return Markup(sep).join(parts)  # noqa: S704  (sep is "" or " "; parts are escaped)
    return sep.join(parts)


def email_breaks(address: str) -> Markup:
    """An email address that, where it must wrap, wraps after its ``@`` or a dot
    (``tanaka@<wbr>example.<wbr>co.<wbr>jp``), escaped."""
    return Markup(re.sub(r"([@.])", r"\1<wbr>", str(escape(address))))  # noqa: S704


def init_app(app: Flask) -> None:
    app.jinja_env.filters["email_breaks"] = email_breaks
    app.jinja_env.filters["when"] = format_when
    app.jinja_env.filters["day"] = format_day
    app.jinja_env.filters["list_words"] = list_words
    app.jinja_env.globals["join_sentences"] = join_sentences
