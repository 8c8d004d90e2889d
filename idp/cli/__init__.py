"""The ``idp`` command: database, realms, users, clients, keys, and the servers.

Every command takes ``--realm`` (default ``main``) where it applies and ``--json`` for
machine-readable output. One module per command group; ``common`` holds what they share.
"""

from __future__ import annotations

import click

from ..migrate import alembic_config, upgrade_database
from . import clients, db, keys, mail, realms, servers, users
from .common import CommandGroup

__all__ = ["alembic_config", "main", "upgrade_database"]


@click.group(cls=CommandGroup)
def main() -> None:
    """Operate the identity provider."""


for _command in (
    db.db,
    realms.realm,
    users.user,
    clients.client,
    keys.keys,
    keys.secrets_command,
    mail.mail,
    servers.serve,
    servers.dev,
):
    main.add_command(_command)
