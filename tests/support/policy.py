"""The sign-in policy of a realm or a client, set and read straight in the live server's database
(as an operator's change would leave it), for tests of how sign-in enforces it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from idp.db import get_session
from idp.models import Client, Realm, User
from idp.services import factors
from idp.services.realms import realm_policy, set_realm_policy
from tests.support.app_db import in_app


def set_policy(realm: Any, **values: Any) -> None:
    in_app(
        realm,
        lambda db: set_realm_policy(
            db, db.get(Realm, realm.id), actor="test", client_address=None, **values
        ),
    )


def two_factor_enabled(realm: Any, user: Any) -> bool:
    return in_app(realm, lambda db: factors.has_second_factor(db, db.get(User, user.id)))


def set_client_flag(realm: Any, client_id: str, value: bool) -> None:
    def change(db: Any) -> None:
        row = db.scalar(
            select(Client).where(Client.realm_id == realm.id, Client.client_id == client_id)
        )
        assert row is not None
        row.require_2fa = value

    in_app(realm, change)


def realm_policy_of(realm: Any) -> dict[str, Any]:
    with realm.server.app.app_context():
        row = get_session().get(Realm, realm.id)
        assert row is not None
        return realm_policy(row)
