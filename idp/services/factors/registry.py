"""The second factors the provider knows, by ``kind``. The built-in ones register when the
``factors`` package is imported; a new factor is a module with a ``SecondFactor`` subclass
and one ``register`` call in ``factors/__init__.py`` (a test may register one of its own and
``unregister`` it after)."""

from __future__ import annotations

from .base import SecondFactor

_FACTORS: dict[str, SecondFactor] = {}


def register(factor: SecondFactor) -> SecondFactor:
    """Add ``factor`` under its ``kind``; a kind is registered once."""
    if factor.kind in _FACTORS:
        raise ValueError(f"second factor {factor.kind!r} is registered already")
    _FACTORS[factor.kind] = factor
    return factor


def unregister(kind: str) -> None:
    _FACTORS.pop(kind, None)


def get(kind: str) -> SecondFactor:
    """The factor registered as ``kind``; ValueError for an unknown kind (a programming
    error: the pages only post the kinds they were built for)."""
    try:
        return _FACTORS[kind]
    except KeyError:
        raise ValueError(kind) from None


def all() -> tuple[SecondFactor, ...]:  # shadows the builtin here only: registry.all()
    """Every registered factor, in the order registered."""
    return tuple(_FACTORS.values())


def second_factor_types() -> tuple[str, ...]:
    """The ``Authenticator.type`` values whose active rows turn 2FA on."""
    return tuple(f.row_type for f in _FACTORS.values() if f.row_type is not None)
