"""Typed SQLAlchemy 2 models. Every row belongs to a realm (directly or through its user)."""

from .audit import AuditEvent, Throttle
from .authenticator import Authenticator, BackupCode, WebAuthnChallenge
from .client import Client
from .keys import SigningKey
from .mail import ActionToken, DeliveryAttempt, OutboxMessage
from .realm import Realm
from .sessions import Interaction, SessionClient, SsoSession, TrustedBrowser
from .tokens import AuthorizationCode, Token
from .user import User

__all__ = [
    "ActionToken",
    "AuditEvent",
    "Authenticator",
    "AuthorizationCode",
    "BackupCode",
    "Client",
    "DeliveryAttempt",
    "Interaction",
    "OutboxMessage",
    "Realm",
    "SessionClient",
    "SigningKey",
    "SsoSession",
    "Throttle",
    "Token",
    "TrustedBrowser",
    "User",
    "WebAuthnChallenge",
]
