"""Access to the running app's settings and shared objects from services."""

from __future__ import annotations

from flask import current_app

from ..config import Settings
from .crypto import DataCipher


def settings() -> Settings:
    return current_app.extensions["idp.settings"]


def cipher() -> DataCipher:
    cached = current_app.extensions.get("idp.cipher")
    if cached is None:
        cached = DataCipher(settings().data_keys)
        current_app.extensions["idp.cipher"] = cached
    return cached


def reset_cipher() -> None:
    current_app.extensions.pop("idp.cipher", None)
