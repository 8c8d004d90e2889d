"""``idp client``: the relying-party clients of a realm."""

from __future__ import annotations

from typing import Any

import click

from .common import JSON_OPTION, REALM_OPTION, _, app_session, fail, find_realm_or_fail, out


@click.group()
def client() -> None:
    """Relying-party clients of a realm."""


@client.command("add")
@click.option("--name", required=True)
@click.option("--redirect-uri", "redirect_uris", multiple=True, help="Repeatable.")
@click.option("--post-logout-redirect-uri", "post_logout", multiple=True, help="Repeatable.")
@click.option("--public", is_flag=True, help="A public client (no secret; PKCE S256 required).")
@click.option(
    "--grant-type",
    "grant_types",
    multiple=True,
    help="authorization_code, refresh_token, client_credentials (repeatable).",
)
@click.option("--scope", "scopes", multiple=True, help="Allowed scope (repeatable).")
@click.option("--client-id", default=None, help="Choose the client_id (default: random).")
@click.option(
    "--require-2fa",
    "require_2fa",
    is_flag=True,
    help="Every sign-in for this client needs a second factor.",
)
@click.option(
    "--resource-server",
    "resource_server",
    is_flag=True,
    help="A resource server (an API): it may introspect every token of the realm.",
)
@click.option(
    "--backchannel-logout-uri",
    "backchannel_logout_uri",
    default=None,
    help="Where a logout token is POSTed when a session the client signed in to ends "
    "(OpenID Connect Back-Channel Logout).",
)
@click.option(
    "--backchannel-logout-session-required",
    is_flag=True,
    help="The client needs sid in its logout tokens (they always carry it).",
)
@click.option(
    "--frontchannel-logout-uri",
    "frontchannel_logout_uri",
    default=None,
    help="The page the signed-out page loads in a hidden iframe "
    "(OpenID Connect Front-Channel Logout).",
)
@click.option(
    "--frontchannel-logout-session-required",
    is_flag=True,
    help="Add iss and sid to the front-channel logout URI.",
)
@REALM_OPTION
@JSON_OPTION
def client_add(
    name: str,
    redirect_uris: tuple[str, ...],
    post_logout: tuple[str, ...],
    public: bool,
    grant_types: tuple[str, ...],
    scopes: tuple[str, ...],
    client_id: str | None,
    require_2fa: bool,
    resource_server: bool,
    backchannel_logout_uri: str | None,
    backchannel_logout_session_required: bool,
    frontchannel_logout_uri: str | None,
    frontchannel_logout_session_required: bool,
    realm_name: str,
    as_json: bool,
) -> None:
    from ..services.clients import create_client

    with app_session() as db:
        new = create_client(
            db,
            find_realm_or_fail(db, realm_name),
            name,
            list(redirect_uris),
            public=public,
            post_logout_redirect_uris=list(post_logout),
            grant_types=list(grant_types) or None,
            scopes=list(scopes) or None,
            client_id=client_id,
            require_2fa=require_2fa,
            resource_server=resource_server,
            backchannel_logout_uri=backchannel_logout_uri,
            backchannel_logout_session_required=backchannel_logout_session_required,
            frontchannel_logout_uri=frontchannel_logout_uri,
            frontchannel_logout_session_required=frontchannel_logout_session_required,
        )
        db.commit()
        data = {
            "client_id": new.client.client_id,
            "client_secret": new.client_secret,
            "name": new.client.name,
            "public": public,
            "require_2fa": new.client.require_2fa,
            "resource_server": new.client.resource_server,
            **_logout_data(new.client),
            "realm": realm_name,
        }
        text = f"client_id: {new.client.client_id}"
        if new.client_secret:
            text += f"\nclient_secret: {new.client_secret}\n" + _("(the secret is shown only now)")
        out(as_json, data, text)


@client.command("list")
@REALM_OPTION
@JSON_OPTION
def client_list(realm_name: str, as_json: bool) -> None:
    from ..services.clients import list_clients

    with app_session() as db:
        rows = list_clients(db, find_realm_or_fail(db, realm_name))
        data = [
            {
                "client_id": c.client_id,
                "name": c.name,
                "public": c.public,
                "redirect_uris": c.redirect_uris,
                "grant_types": c.grant_types,
                "require_2fa": c.require_2fa,
                "resource_server": c.resource_server,
                **_logout_data(c),
            }
            for c in rows
        ]
        out(
            as_json,
            data,
            "\n".join(
                f"{c['client_id']}\t{c['name']}\trequire_2fa={'yes' if c['require_2fa'] else 'no'}"
                for c in data
            ),
        )


def _logout_data(row: Any) -> dict[str, Any]:
    return {
        "backchannel_logout_uri": row.backchannel_logout_uri,
        "backchannel_logout_session_required": row.backchannel_logout_session_required,
        "frontchannel_logout_uri": row.frontchannel_logout_uri,
        "frontchannel_logout_session_required": row.frontchannel_logout_session_required,
    }


def _client_data(row: Any, realm_name: str) -> dict[str, Any]:
    return {
        "client_id": row.client_id,
        "name": row.name,
        "public": row.public,
        "require_2fa": row.require_2fa,
        "resource_server": row.resource_server,
        **_logout_data(row),
        "realm": realm_name,
    }


@client.command("set")
@click.argument("client_id")
@click.option(
    "--require-2fa/--no-require-2fa",
    "require_2fa",
    default=None,
    help="Whether every sign-in for this client needs a second factor.",
)
@click.option(
    "--resource-server/--no-resource-server",
    "resource_server",
    default=None,
    help="Whether the client may introspect every token of the realm (RFC 7662 4).",
)
@click.option(
    "--backchannel-logout-uri",
    "backchannel_logout_uri",
    default=None,
    help='The back-channel logout URI ("" removes it).',
)
@click.option(
    "--backchannel-logout-session-required/--no-backchannel-logout-session-required",
    "backchannel_logout_session_required",
    default=None,
)
@click.option(
    "--frontchannel-logout-uri",
    "frontchannel_logout_uri",
    default=None,
    help='The front-channel logout URI ("" removes it).',
)
@click.option(
    "--frontchannel-logout-session-required/--no-frontchannel-logout-session-required",
    "frontchannel_logout_session_required",
    default=None,
)
@REALM_OPTION
@JSON_OPTION
def client_set(
    client_id: str,
    require_2fa: bool | None,
    resource_server: bool | None,
    backchannel_logout_uri: str | None,
    backchannel_logout_session_required: bool | None,
    frontchannel_logout_uri: str | None,
    frontchannel_logout_session_required: bool | None,
    realm_name: str,
    as_json: bool,
) -> None:
    """Change a client's sign-in policy, access or logout URIs; audited as the operator."""
    from ..services.audit import OPERATOR
    from ..services.clients import (
        find_client,
        set_client_logout,
        set_client_require_2fa,
        set_client_resource_server,
    )

    logout = {
        name: value
        for name, value in (
            ("backchannel_logout_uri", backchannel_logout_uri),
            ("backchannel_logout_session_required", backchannel_logout_session_required),
            ("frontchannel_logout_uri", frontchannel_logout_uri),
            ("frontchannel_logout_session_required", frontchannel_logout_session_required),
        )
        if value is not None
    }
    if require_2fa is None and resource_server is None and not logout:
        fail(
            _(
                "nothing to change: give --require-2fa or --no-require-2fa, "
                "--resource-server or --no-resource-server, or a logout option"
            )
        )
    with app_session() as db:
        row = find_client(db, find_realm_or_fail(db, realm_name), client_id)
        if row is None:
            fail(_("no client %(id)s in realm %(realm)s", id=client_id, realm=realm_name))
        if require_2fa is not None:
            set_client_require_2fa(db, row, require_2fa, actor=OPERATOR, client_address=None)
        if resource_server is not None:
            set_client_resource_server(
                db, row, resource_server, actor=OPERATOR, client_address=None
            )
        if logout:
            set_client_logout(db, row, logout, actor=OPERATOR, client_address=None)
        db.commit()
        data = _client_data(row, realm_name)
        out(
            as_json,
            data,
            f"client {row.client_id}: require_2fa={'yes' if row.require_2fa else 'no'}"
            f" resource_server={'yes' if row.resource_server else 'no'}",
        )


@client.command("remove")
@click.argument("client_id")
@REALM_OPTION
def client_remove(client_id: str, realm_name: str) -> None:
    from ..services.clients import remove_client

    with app_session() as db:
        remove_client(db, find_realm_or_fail(db, realm_name), client_id)
        db.commit()
        click.echo(_("client %(client_id)s removed", client_id=client_id))
