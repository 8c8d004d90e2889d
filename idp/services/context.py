"""Access to the running app's settings and shared objects from services."""

from __future__ import annotations

import json
import os
from pathlib import Path

from flask import current_app

from ..config import Settings
from ..models import Realm
from .crypto import DataCipher


def settings() -> Settings:
    found: Settings = current_app.extensions["idp.settings"]  # set by create_app
    return found


def realm_issuer(realm: Realm) -> str:
    """The issuer of a realm's tokens (``iss``), and the base of its protocol URLs."""
    return f"{settings().base_url}/realms/{realm.name}"


def cipher() -> DataCipher:
    """The data cipher. When the data keys live in the instance folder, a change there (by
    ``idp keys rotate-data-key`` in another process) is picked up on the next use, so running
    servers keep decrypting and start encrypting with the new key."""
    s = settings()
    stamp = _secrets_stamp(s)
    cached = current_app.extensions.get("idp.cipher")
    if cached is None or current_app.extensions.get("idp.cipher_stamp") != stamp:
        if stamp is not None and current_app.extensions.get("idp.cipher_stamp") is not None:
            path = Path(s.instance_path) / "secrets.json"
            s.data_keys = json.loads(path.read_text())["data_keys"]
        cached = DataCipher(s.data_keys)
        current_app.extensions["idp.cipher"] = cached
        current_app.extensions["idp.cipher_stamp"] = stamp
    return cached


def _secrets_stamp(s: Settings) -> int | None:
    if "data_keys" not in s.generated:
        return None
    try:
        return os.stat(Path(s.instance_path) / "secrets.json").st_mtime_ns
    except FileNotFoundError:
        return None


def reset_cipher() -> None:
    current_app.extensions.pop("idp.cipher", None)
    current_app.extensions.pop("idp.cipher_stamp", None)
