"""``client_secret_basic`` (RFC 6749 2.3.1) that refuses malformed credentials cleanly.

Authlib's own parser lets a header whose credentials are not UTF-8 (``Basic /w==``) escape
as a 500. Here any ``Authorization: Basic`` header that is not base64 of
``urlencode(client_id):urlencode(secret)`` in UTF-8 is ``401 invalid_client``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from authlib.oauth2.rfc6749.errors import InvalidClientError

from ..models import Client

#: Longest header value read (a client_id of 128 characters and a secret of ours fit well).
MAX_CREDENTIALS_LENGTH = 2000


class MalformedCredentials(ValueError):
    """The Basic credentials cannot be read."""


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """``(client_id, client_secret)`` from an ``Authorization`` header; None when the header
    is absent or another scheme. Raises :class:`MalformedCredentials` for a Basic header
    that is not base64, not UTF-8, over-long or without the colon."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    value = value.strip()
    if not value or len(value) > MAX_CREDENTIALS_LENGTH:
        raise MalformedCredentials("empty or over-long credentials")
    padded = value + "=" * (-len(value) % 4)  # some clients leave the padding out
    try:
        decoded = base64.b64decode(padded.encode("ascii"), validate=True).decode("utf-8")
    except (UnicodeError, binascii.Error) as exc:
        raise MalformedCredentials("credentials are not base64 of UTF-8 text") from exc
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise MalformedCredentials("credentials without a colon")
    try:
        return unquote(client_id, errors="strict"), unquote(secret, errors="strict")
    except UnicodeError as exc:
        raise MalformedCredentials("percent-escapes that are not UTF-8") from exc


def authenticate_client_secret_basic(
    query_client: Callable[[str], Client | None], request: Any
) -> Client | None:
    """Authlib's client-authentication hook for ``client_secret_basic``."""
    try:
        credentials = basic_credentials(request.headers.get("Authorization"))
    except MalformedCredentials as exc:
        raise InvalidClientError(
            status_code=401, description="Malformed client credentials."
        ) from exc
    if credentials is None:
        return None
    client_id, secret = credentials
    if not client_id or not secret:
        return None
    client = query_client(client_id)
    if client is None:
        raise InvalidClientError(
            status_code=401, description="The client does not exist on this server."
        )
    return client if client.check_client_secret(secret) else None
