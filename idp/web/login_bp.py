"""The ``login`` blueprint object, in a module of its own: the hosted sign-in's page modules
(``login``, ``login_codes``, ``login_keys``) register their routes on it without importing
one another; ``login`` imports the other two so that ``create_app`` registers all of them."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from .common import load_realm

bp = Blueprint("login", __name__, url_prefix="/realms/<realm>/login/<uid>")


@bp.url_value_preprocessor
def _realm(endpoint: str | None, values: dict[str, Any] | None) -> None:
    if values and "realm" in values:
        load_realm(values["realm"])
