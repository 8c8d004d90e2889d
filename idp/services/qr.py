"""QR codes drawn locally by segno as inline SVG (no external service)."""

from __future__ import annotations

import segno


def qr_svg(data: str) -> str:
    qr = segno.make(data, error="m")
    # A viewBox (omitsize) lets the stylesheet size the code without cropping it.
    return qr.svg_inline(scale=5, border=4, dark="#111", light="#fff", omitsize=True)
