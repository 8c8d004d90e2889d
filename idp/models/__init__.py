"""Typed SQLAlchemy 2 models. Every row belongs to a realm (directly or through its user)."""

from .audit import AuditEvent, Throttle
from .authenticator import Authenticator, BackupCode, WebAuthnChallenge
from .client import Client
from .keys import SigningKey
from .mail import ActionToken, OutboxMessage
from .realm import Realm
from .sessions import Interaction, SsoSession, TrustedBrowser
from .tokens import AuthorizationCode, Token
from .user import User

__all__ = [
    "ActionToken",
    "AuditEvent",
    "Authenticator",
    "AuthorizationCode",
    "BackupCode",
    "Client",
    "Interaction",
    "OutboxMessage",
    "Realm",
    "SigningKey",
    "SsoSession",
    "Throttle",
    "Token",
    "TrustedBrowser",
    "User",
    "WebAuthnChallenge",
]
