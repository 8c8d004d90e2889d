"""Small images for the branding tests, built in code (no binary fixtures in the repo)."""

from __future__ import annotations

import struct
import zlib


def png(width: int = 2, height: int = 1, pad: int = 0) -> bytes:
    """A valid RGB PNG (``pad`` bytes of a text chunk make it as large as wanted)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\x0b\x5c\xad" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + (chunk(b"tEXt", b"Comment\x00" + b"x" * pad) if pad else b"")
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
