"""``idp realm``: realms (tenants), their settings and sign-in policy."""

from __future__ import annotations

from typing import Any

import click

from .common import JSON_OPTION, app_session, find_realm_or_fail, get_app, out


@click.group()
def realm() -> None:
    """Realms (tenants)."""


@realm.command("add")
@click.argument("name")
@click.option("--display-name", default=None, help="Shown on pages and in authenticator apps.")
@JSON_OPTION
def realm_add(name: str, display_name: str | None, as_json: bool) -> None:
    from ..services.realms import create_realm

    with app_session() as db:
        row = create_realm(db, name, display_name)
        db.commit()
        issuer = f"{get_app().extensions['idp.settings'].base_url}/realms/{row.name}"
        out(
            as_json,
            {"name": row.name, "display_name": row.display_name, "issuer": issuer},
            f"realm {row.name} created; issuer {issuer}",
        )


@realm.command("list")
@JSON_OPTION
def realm_list(as_json: bool) -> None:
    from ..services.realms import list_realms

    with app_session() as db:
        rows = list_realms(db)
        out(
            as_json,
            [{"name": r.name, "display_name": r.display_name} for r in rows],
            "\n".join(f"{r.name}\t{r.display_name}" for r in rows),
        )


def _policy_data(row: Any) -> dict[str, Any]:
    from ..services.realms import realm_policy

    data = realm_policy(row)
    since = data["require_2fa_since"]
    data["require_2fa_since"] = since.isoformat() if since else None
    return data


def _policy_text(data: dict[str, Any]) -> str:
    since = f" (since {data['require_2fa_since']})" if data["require_2fa_since"] else ""
    return "\n".join(
        (
            f"realm: {data['name']}",
            f"display name: {data['display_name']}",
            f"require 2fa: {data['require_2fa']}{since}",
            f"grace days: {data['grace_days']}",
            f"trust browser days: {data['trust_browser_days']}",
        )
    )


@realm.command("show")
@click.argument("name")
@JSON_OPTION
def realm_show(name: str, as_json: bool) -> None:
    """Print the realm's settings and sign-in policy."""
    with app_session() as db:
        data = _policy_data(find_realm_or_fail(db, name))
        out(as_json, data, _policy_text(data))


@realm.command("set")
@click.argument("name")
@click.option("--display-name", default=None, help="Shown on pages and in authenticator apps.")
@click.option(
    "--require-2fa",
    "require_2fa",
    type=click.Choice(["none", "admins", "all"]),
    default=None,
    help="Who must have two-factor authentication (users without it enrol at sign-in).",
)
@click.option(
    "--grace-days",
    type=int,
    default=None,
    help="Days a user may postpone enrolling, from the policy taking effect or the "
    "account's creation, whichever is later (0-365; 0: no postponing).",
)
@click.option(
    "--trust-browser-days",
    type=int,
    default=None,
    help='Days "trust this browser" skips the code (0-365; 0: the option is off).',
)
@JSON_OPTION
def realm_set(
    name: str,
    display_name: str | None,
    require_2fa: str | None,
    grace_days: int | None,
    trust_browser_days: int | None,
    as_json: bool,
) -> None:
    """Change a realm's display name and sign-in policy; audited as the operator. Options
    left out keep their value."""
    from ..services.audit import OPERATOR
    from ..services.realms import set_realm_display_name, set_realm_policy

    with app_session() as db:
        row = find_realm_or_fail(db, name)
        if display_name is not None:
            set_realm_display_name(db, row, display_name, actor=OPERATOR, client_address=None)
        set_realm_policy(
            db,
            row,
            require_2fa=require_2fa,
            grace_days=grace_days,
            trust_browser_days=trust_browser_days,
            actor=OPERATOR,
            client_address=None,
        )
        db.commit()
        data = _policy_data(row)
        out(as_json, data, _policy_text(data))
