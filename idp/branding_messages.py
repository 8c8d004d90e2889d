"""What a person reads when the realm's branding is refused, in their language.

The service (``services.realms.set_realm_branding``) raises narrow exceptions and translates
nothing; the console (``web.admin_settings``) and ``idp realm set`` (``cli.realms``) both
turn them into these messages, so a refusal reads the same on the page and in the terminal.
Call inside a request (the page's language) or under ``flask_babel.force_locale``.
"""

from __future__ import annotations

from flask_babel import gettext as _

from .services import brand_checks as checks
from .services import realms
from .services.errors import InvalidInput

_TYPE_NAMES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WebP"}


def branding_refusal(exc: InvalidInput) -> str:
    """The message for a refused branding change."""
    if isinstance(exc, checks.LowContrastColor):
        return _(
            "The accent colour %(color)s has a contrast of %(ratio)s:1 against white; links "
            "and buttons need at least %(needed)s:1 (WCAG AA). Choose a darker colour.",
            color=exc.value,
            ratio=checks.format_ratio(exc.ratio),
            needed=checks.MIN_CONTRAST,
        )
    if isinstance(exc, checks.InvalidColor):
        return _("Write the accent colour as # and six hexadecimal digits, for example #0b5cad.")
    if isinstance(exc, checks.LogoIsSvg):
        return _(
            "SVG logos are not accepted, because an SVG file can carry scripts. Upload a PNG, "
            "JPEG or WebP image."
        )
    if isinstance(exc, checks.LogoTypeMismatch):
        return _(
            "The logo's content does not match its type: the file says %(declared)s, but it "
            "is a %(detected)s image. Save it in its real format and upload it again.",
            declared=exc.declared,
            detected=_TYPE_NAMES.get(exc.detected, exc.detected),
        )
    if isinstance(exc, checks.LogoTypeUnknown):
        return _("The logo must be a PNG, JPEG or WebP image.")
    if isinstance(exc, checks.LogoTooLarge):
        return logo_too_large()
    if isinstance(exc, checks.LogoEmpty):
        return _("The logo file is empty.")
    if isinstance(exc, realms.DisplayNameControlCharacters):
        return _("The display name must not contain line breaks, tabs or other control characters.")
    if isinstance(exc, realms.InvalidDisplayName):
        return _("The display name must be 1 to %(max)d characters.", max=realms.DISPLAY_NAME_MAX)
    if isinstance(exc, realms.UnsupportedLocale):
        return _("Choose English or Japanese as the default language.")
    return _("The branding could not be saved.")


def logo_too_large() -> str:
    return _(
        "The logo is too large: at most %(limit)d KiB is accepted. Make the image smaller "
        "and upload it again.",
        limit=checks.LOGO_MAX_BYTES // 1024,
    )
