"""Names people choose (a realm's display name, user and client names) reach page titles and
mail headers (SPEC V5): they may not carry control characters.

Refused: every control character (Unicode category Cc: CR, LF, tab, NUL, ESC, NEL...), the
line and paragraph separators (Zl, Zp), and the format characters (Cf) that hide or reorder
text: bidirectional overrides and isolates, zero-width spaces, the byte-order mark, soft
hyphens. The zero-width joiner and non-joiner stay allowed: emoji sequences and several
scripts need them. Unpaired surrogates (Cs) can't be stored as UTF-8 and are refused too.

A name is stored without surrounding white space (spaces, U+00A0, the ideographic space...),
and is at most ``NAME_MAX`` characters (the columns' length): a longer one is refused, never
cut. A blank name is refused where a name is required (a client's); a user's blank name is no
name, and the user gets the default (the part of the address before the @).

``header_safe`` is the mail's side of the same rule: a value already stored with such a
character (by an older version, or by hand) is shown with spaces in their place, so it never
stops a message (``idp.mail.render``).
"""

from __future__ import annotations

import unicodedata

from .errors import N_, InvalidInput

#: The length of the name columns (realm display name, user and client names).
NAME_MAX = 200

#: Format characters a name may keep: zero-width non-joiner and joiner.
_ALLOWED_FORMAT = frozenset("\u200c\u200d")
_REFUSED_CATEGORIES = frozenset({"Cc", "Zl", "Zp", "Cs"})


def unsafe_character(value: str) -> str | None:
    """The first character of ``value`` a name may not contain, or None."""
    for char in value:
        category = unicodedata.category(char)
        if category in _REFUSED_CATEGORIES or (category == "Cf" and char not in _ALLOWED_FORMAT):
            return char
    return None


class ControlCharacterInName(InvalidInput):
    """A name with a line break, tab or other control character (SPEC V5)."""

    def __init__(self) -> None:
        super().__init__(
            N_("The name must not contain line breaks, tabs or other control characters.")
        )


class NameTooLong(InvalidInput):
    """A name longer than the column holds (``NAME_MAX``)."""

    def __init__(self) -> None:
        super().__init__(N_("The name must be at most 200 characters long."))


class BlankName(InvalidInput):
    """A required name that is empty or only white space."""

    def __init__(self) -> None:
        super().__init__(N_("Enter a name: it cannot be blank."))


def check_name(value: str, *, required: bool = False) -> str:
    """``value`` without surrounding white space, when it has no character a name may not
    contain (else ``ControlCharacterInName``) and fits the column (else ``NameTooLong``).
    Blank: "" (no name), or ``BlankName`` when ``required``. Every entry point (the
    command line, the console) goes through the services that call this."""
    if unsafe_character(value) is not None:
        raise ControlCharacterInName()
    value = value.strip()
    if required and not value:
        raise BlankName()
    if len(value) > NAME_MAX:
        raise NameTooLong()
    return value


def header_safe(value: str) -> str:
    """``value`` for a mail header: each run of refused characters becomes one space."""
    if unsafe_character(value) is None:
        return value
    out: list[str] = []
    for char in value:
        if unsafe_character(char) is not None:
            if out and out[-1] != " ":
                out.append(" ")
        else:
            out.append(char)
    return "".join(out).strip()
