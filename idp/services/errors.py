"""Narrow exceptions raised by services; the web layer maps them to messages and statuses."""

from __future__ import annotations


def N_(message: str) -> str:
    """Mark a service's user-facing message for the translation catalog without translating
    it here (services don't know the request's language); the web layer shows it with
    ``gettext(str(exc))``."""
    return message


class ServiceError(Exception):
    """Base class for expected, user-facing failures."""


class NotFound(ServiceError):
    pass


class AlreadyExists(ServiceError):
    pass


class InvalidInput(ServiceError):
    pass


class InvalidCredentials(ServiceError):
    """Unknown email or wrong password: deliberately one error for both."""


class AccountDisabled(ServiceError):
    pass


class InvalidCode(ServiceError):
    """A second-factor code that is malformed or wrong."""


class CodeReplayed(InvalidCode):
    """A TOTP code whose time step is not newer than the last accepted one (RFC 6238 5.2)."""


class TooManyAttempts(ServiceError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many attempts; retry after {retry_after} s")
        self.retry_after = retry_after
