"""Small cryptographic helpers: random tokens, digests, encryption at rest."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


def random_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def digest(value: str) -> str:
    """SHA-256 hex digest, for high-entropy values (tokens, codes, client secrets)."""
    return hashlib.sha256(value.encode()).hexdigest()


def keyed_digest(key: str, value: str) -> str:
    """HMAC-SHA256 under a key kept outside the database (backup codes, SPEC B7)."""
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()


def constant_time_equals(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


class DataCipher:
    """Encrypts data at rest (TOTP keys, private signing keys) with the data keys.

    The first key encrypts; every key decrypts, so ``rotate`` can re-encrypt old values.
    """

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("no data-encryption key configured")
        self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("encrypted value cannot be read with the configured keys") from exc

    def rotate(self, token: str) -> str:
        return self._fernet.rotate(token.encode()).decode()
