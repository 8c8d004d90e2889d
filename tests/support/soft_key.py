"""A software FIDO2 authenticator for tests that post crafted WebAuthn responses (issue 10):
a P-256 key pair, "none" attestation, a signature counter. It signs exactly as a security
key does (authenticator data + SHA-256 of the client data, W3C WebAuthn SS 6.1, 6.3.3), so
the provider's py_webauthn verification runs for real; a test bends one input at a time
(origin, challenge, counter, credential) to show each is refused."""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import struct
from base64 import urlsafe_b64decode, urlsafe_b64encode
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import encode_cbor

UP, UV, AT = 0x01, 0x04, 0x40


def b64(data: bytes) -> str:
    return urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return urlsafe_b64decode(text + "=" * (-len(text) % 4))


def page_options(text: str) -> dict[str, Any]:
    """The WebAuthn options a page carries for webauthn.js (``data-options``)."""
    match = re.search(r'data-options="([^"]*)"', text)
    assert match, text
    options: dict[str, Any] = json.loads(html.unescape(match.group(1)))
    return options


class SoftKey:
    def __init__(self, origin: str, *, user_verified: bool = True) -> None:
        self.origin = origin
        self.rp_id = origin.split("://", 1)[1].split(":", 1)[0]
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(32)
        self.sign_count = 0
        self.user_verified = user_verified
        #: The user handle of the options it was created with (a discoverable credential
        #: returns it on every sign-in, W3C WebAuthn SS 6.2.2).
        self.user_handle: str | None = None

    def _cose_key(self) -> bytes:
        numbers = self.private.public_key().public_numbers()
        return encode_cbor(
            {
                1: 2,
                3: -7,
                -1: 1,
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )

    def _flags(self, extra: int = 0) -> int:
        return UP | (UV if self.user_verified else 0) | extra

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps(
            {
                "type": kind,
                "challenge": challenge,
                "origin": origin or self.origin,
                "crossOrigin": False,
            }
        ).encode()

    def create(self, options: dict[str, Any], *, origin: str | None = None) -> str:
        """The response of ``navigator.credentials.create`` to ``options``."""
        self.user_handle = options.get("user", {}).get("id")
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        auth_data = (
            hashlib.sha256(self.rp_id.encode()).digest()
            + bytes([self._flags(AT)])
            + struct.pack(">I", self.sign_count)
            + bytes(16)  # AAGUID: none
            + struct.pack(">H", len(self.credential_id))
            + self.credential_id
            + self._cose_key()
        )
        attestation = encode_cbor({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return json.dumps(
            {
                "id": b64(self.credential_id),
                "rawId": b64(self.credential_id),
                "type": "public-key",
                "response": {
                    "clientDataJSON": b64(client_data),
                    "attestationObject": b64(attestation),
                    "transports": ["usb"],
                },
                "clientExtensionResults": {},
            }
        )

    def get(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        sign_count: int | None = None,
        user_handle: str | None = None,
    ) -> str:
        """The response of ``navigator.credentials.get`` to ``options`` (the counter goes up
        by one unless ``sign_count`` is given)."""
        self.sign_count = self.sign_count + 1 if sign_count is None else sign_count
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        auth_data = (
            hashlib.sha256(self.rp_id.encode()).digest()
            + bytes([self._flags()])
            + struct.pack(">I", self.sign_count)
        )
        signature = self.private.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return json.dumps(
            {
                "id": b64(self.credential_id),
                "rawId": b64(self.credential_id),
                "type": "public-key",
                "response": {
                    "clientDataJSON": b64(client_data),
                    "authenticatorData": b64(auth_data),
                    "signature": b64(signature),
                    "userHandle": user_handle or self.user_handle,
                },
                "clientExtensionResults": {},
            }
        )
