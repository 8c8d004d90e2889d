"""The rules a realm's accent colour and logo must meet (issue 7), as pure functions with
narrow exceptions: ``services.realms.set_realm_branding`` applies them; the console and the
CLI turn the exceptions into messages (``idp.branding_messages``).

- The accent colour is ``#rrggbb`` with a WCAG 2.x contrast of at least 4.5:1 against white
  (AA for normal text: links in it, white button labels on it).
- The logo's type is decided by its first bytes: PNG, JPEG or WebP. SVG is refused (it can
  carry scripts), and so is a file whose claimed type (the browser's, or the file name's)
  disagrees with its bytes. At most ``LOGO_MAX_BYTES``.
"""

from __future__ import annotations

import re

from .errors import InvalidInput

#: The largest logo accepted, in bytes.
LOGO_MAX_BYTES = 256 * 1024
#: WCAG 2.x AA contrast for normal text: links and button labels on white must reach it.
MIN_CONTRAST = 4.5
#: Logo types, recognised by their first bytes (never by the file name or a declared type).
LOGO_TYPES = ("image/png", "image/jpeg", "image/webp")
COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


class InvalidColor(InvalidInput):
    """Not a colour written as ``#rrggbb``."""

    def __init__(self, value: str) -> None:
        super().__init__(f"The accent colour must be written as #rrggbb, not {value[:20]!r}.")
        self.value = value


class LowContrastColor(InvalidInput):
    """A colour that links and button labels could not be read in: below WCAG AA on white."""

    def __init__(self, value: str, ratio: float) -> None:
        super().__init__(
            f"The accent colour {value} has a contrast of {format_ratio(ratio)}:1 against "
            f"white; at least {MIN_CONTRAST}:1 is needed (WCAG AA)."
        )
        self.value = value
        self.ratio = ratio


class LogoRefused(InvalidInput):
    """Base of the logo refusals."""


class LogoIsSvg(LogoRefused):
    """SVG can carry scripts and links: never stored."""

    def __init__(self) -> None:
        super().__init__(
            "SVG logos are refused (an SVG file can carry scripts): use PNG, JPEG or WebP."
        )


class LogoTypeUnknown(LogoRefused):
    def __init__(self) -> None:
        super().__init__("The logo is not a PNG, JPEG or WebP image.")


class LogoTypeMismatch(LogoRefused):
    """The file claims one type (its name or the browser's content type) but its bytes are
    another."""

    def __init__(self, declared: str, detected: str) -> None:
        super().__init__(
            f"The logo's content does not match its type: it is sent as {declared} "
            f"but its bytes are {detected}."
        )
        self.declared = declared
        self.detected = detected


class LogoTooLarge(LogoRefused):
    def __init__(self, size: int) -> None:
        super().__init__(
            f"The logo is {size // 1024} KiB; at most {LOGO_MAX_BYTES // 1024} KiB is accepted."
        )
        self.size = size
        self.limit = LOGO_MAX_BYTES


class LogoEmpty(LogoRefused):
    def __init__(self) -> None:
        super().__init__("The logo file is empty.")


def _linear(channel: int) -> float:
    c = channel / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def relative_luminance(color: str) -> float:
    """WCAG 2.x relative luminance of ``#rrggbb``."""
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * _linear(r) + 0.7152 * _linear(g) + 0.0722 * _linear(b)


def contrast_ratio(color: str, other: str = "#ffffff") -> float:
    """WCAG 2.x contrast ratio of two ``#rrggbb`` colours (1 to 21)."""
    lighter, darker = sorted((relative_luminance(color), relative_luminance(other)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def format_ratio(ratio: float) -> str:
    """A ratio for people, rounded down so that a refused colour never reads as 4.5."""
    return f"{int(ratio * 100) / 100:.2f}"


def check_accent_color(value: str) -> str:
    """``#rrggbb`` (lowercased) with at least 4.5:1 contrast against white, or a refusal:
    ``InvalidColor`` or ``LowContrastColor``."""
    value = value.strip()
    if not COLOR.match(value):
        raise InvalidColor(value)
    value = value.lower()
    ratio = contrast_ratio(value)
    if ratio < MIN_CONTRAST:
        raise LowContrastColor(value, ratio)
    return value


def sniff_image(data: bytes) -> str | None:
    """The logo type the bytes are (``LOGO_TYPES``), ``"image/svg+xml"`` for SVG, else None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"<") and b"<svg" in data[:4096].lower():
        return "image/svg+xml"
    return None


_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png"}
#: Declared types that say nothing about the content (a file without a known extension).
_NO_CLAIM = {"", "application/octet-stream", "binary/octet-stream"}


def check_logo(data: bytes, declared_type: str | None = None) -> str:
    """The content type of an acceptable logo, decided by its bytes; ``declared_type`` (the
    browser's or the file name's claim), when it makes one, must agree. Refusals:
    ``LogoEmpty``, ``LogoTooLarge``, ``LogoIsSvg``, ``LogoTypeUnknown``, ``LogoTypeMismatch``."""
    if not data:
        raise LogoEmpty()
    if len(data) > LOGO_MAX_BYTES:
        raise LogoTooLarge(len(data))
    detected = sniff_image(data)
    declared = (declared_type or "").split(";", 1)[0].strip().lower()
    declared = _ALIASES.get(declared, declared)
    if detected == "image/svg+xml" or declared == "image/svg+xml":
        raise LogoIsSvg()
    if detected is None:
        raise LogoTypeUnknown()
    if declared not in _NO_CLAIM and declared != detected:
        raise LogoTypeMismatch(declared[:40], detected)
    return detected
