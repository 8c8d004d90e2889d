"""``idp user``: the users of a realm and the operator's account actions."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from ..i18n import LANGUAGES
from .common import JSON_OPTION, REALM_OPTION, _, app_session, fail, find_realm_or_fail, out

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


@click.group()
def user() -> None:
    """Users of a realm."""


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt(_("Password"), hide_input=True, confirmation_prompt=True)


def _user(db: Session, realm_name: str, email: str) -> Any:
    from ..services.users import find_user_by_email

    realm_row = find_realm_or_fail(db, realm_name)
    row = find_user_by_email(db, realm_row, email)
    if row is None:
        fail(_("no user %(email)s in realm %(realm)s", email=email, realm=realm_row.name))
    return row


@user.command("add")
@click.option("--email", required=True)
@click.option("--name", "display_name", default="", help="Display name.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--admin", is_flag=True, help="Make the user an admin of the realm.")
@click.option(
    "--email-verified",
    is_flag=True,
    help="Vouch for the address: ID tokens say email_verified=true.",
)
@REALM_OPTION
@JSON_OPTION
def user_add(
    email: str,
    display_name: str,
    password_stdin: bool,
    admin: bool,
    email_verified: bool,
    realm_name: str,
    as_json: bool,
) -> None:
    from ..services.users import create_user

    password = _read_password(password_stdin)
    with app_session() as db:
        row = create_user(
            db,
            find_realm_or_fail(db, realm_name),
            email,
            password,
            display_name=display_name,
            is_admin=admin,
            email_verified=email_verified,
        )
        db.commit()
        out(
            as_json,
            {
                "email": row.email,
                "sub": row.sub,
                "admin": row.is_admin,
                "email_verified": row.email_verified,
                "realm": realm_name,
            },
            _("user %(email)s created in realm %(realm)s", email=row.email, realm=realm_name),
        )


@user.command("list")
@REALM_OPTION
@JSON_OPTION
def user_list(realm_name: str, as_json: bool) -> None:
    from ..services.factors import two_factor_statuses
    from ..services.users import search_users

    with app_session() as db:
        rows, _total = search_users(db, find_realm_or_fail(db, realm_name), "", 1, 100000)
        statuses = two_factor_statuses(db, rows)
        data = []
        for r in rows:
            status = statuses[r.id]
            data.append(
                {
                    "email": r.email,
                    "name": r.display_name,
                    "admin": r.is_admin,
                    "disabled": r.disabled,
                    "email_verified": r.email_verified,
                    "two_factor": status.enabled,
                    "unused_backup_codes": status.unused_backup_codes,
                }
            )
        out(
            as_json,
            data,
            "\n".join(
                f"{d['email']}\tadmin={d['admin']}\tdisabled={d['disabled']}\t"
                f"2fa={'enabled' if d['two_factor'] else 'off'}"
                for d in data
            ),
        )


@user.command("set-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@REALM_OPTION
def user_set_password(email: str, password_stdin: bool, realm_name: str) -> None:
    """Set a user's password (the console's password reset): ends the user's sessions,
    revokes their tokens; audited as the operator."""
    from ..services.accounts import reset_password
    from ..services.audit import OPERATOR

    password = _read_password(password_stdin)
    with app_session() as db:
        reset_password(
            db,
            _user(db, realm_name, email),
            password,
            actor=OPERATOR,
            client_address=None,
        )
        db.commit()
        click.echo(_("password of %(email)s changed; sessions ended, tokens revoked", email=email))


@user.command("sign-out")
@click.argument("email")
@REALM_OPTION
@JSON_OPTION
def user_sign_out(email: str, realm_name: str, as_json: bool) -> None:
    """Sign a user out everywhere: ends every session, revokes the tokens, and tells the
    applications the sessions signed in to (back-channel logout); audited as the operator."""
    from ..services.audit import OPERATOR
    from ..services.sessions import AdminReason, sign_out_by_admin

    with app_session() as db:
        row = _user(db, realm_name, email)
        ended = sign_out_by_admin(
            db, row, reason=AdminReason.SIGNED_OUT, actor=OPERATOR, client_address=None
        )
        db.commit()
        out(
            as_json,
            {"email": row.email, "realm": realm_name, "sessions_ended": len(ended.sids)},
            _(
                "%(email)s signed out: %(count)s sessions ended, tokens revoked",
                email=row.email,
                count=len(ended.sids),
            ),
        )


@user.command("disable")
@click.argument("email")
@REALM_OPTION
def user_disable(email: str, realm_name: str) -> None:
    """Disable a user's account (the console's Disable): sign-ins are refused, every
    session ends (the applications are told) and every token is revoked; audited."""
    from ..services.accounts import disable_account
    from ..services.audit import OPERATOR

    with app_session() as db:
        row = _user(db, realm_name, email)
        if not row.disabled:
            disable_account(db, row, actor=OPERATOR, client_address=None)
            db.commit()
        click.echo(_("account %(email)s disabled", email=row.email))


@user.command("enable")
@click.argument("email")
@REALM_OPTION
def user_enable(email: str, realm_name: str) -> None:
    """Enable a disabled account again (no session or token comes back); audited."""
    from ..services.accounts import enable_account
    from ..services.audit import OPERATOR

    with app_session() as db:
        row = _user(db, realm_name, email)
        if row.disabled:
            enable_account(db, row, actor=OPERATOR, client_address=None)
            db.commit()
        click.echo(_("account %(email)s enabled", email=row.email))


@user.command("email-verified")
@click.argument("email")
@click.option("--unverified", is_flag=True, help="Withdraw it: ID tokens say email_verified=false.")
@REALM_OPTION
@JSON_OPTION
def user_email_verified(email: str, unverified: bool, realm_name: str, as_json: bool) -> None:
    """Vouch for a user's email address (ID tokens then say ``email_verified: true``, which
    relying parties such as oauth2-proxy require); audited as the operator."""
    from ..services.accounts import set_email_verified
    from ..services.audit import OPERATOR

    with app_session() as db:
        row = _user(db, realm_name, email)
        set_email_verified(db, row, not unverified, actor=OPERATOR, client_address=None)
        db.commit()
        out(
            as_json,
            {"email": row.email, "email_verified": row.email_verified, "realm": realm_name},
            _("email of %(email)s is verified", email=row.email)
            if row.email_verified
            else _("email of %(email)s is not verified", email=row.email),
        )


@user.command("reset-2fa")
@click.argument("email")
@REALM_OPTION
@JSON_OPTION
def user_reset_2fa(email: str, realm_name: str, as_json: bool) -> None:
    """Disable two-factor authentication for a user (SPEC A3): removes the key and every
    backup code, ends the user's sessions and revokes their tokens; audited as the operator."""
    from ..services.audit import OPERATOR
    from ..services.factors import reset_second_factors

    with app_session() as db:
        row = _user(db, realm_name, email)
        had = reset_second_factors(db, row, actor=OPERATOR, client_address=None)
        db.commit()
        out(
            as_json,
            {"email": row.email, "realm": realm_name, "was_enabled": had},
            _("two-factor authentication disabled for %(email)s", email=row.email)
            if had
            else _("two-factor authentication was not enabled for %(email)s", email=row.email),
        )


@user.command("invite")
@click.argument("email")
@click.option("--name", "display_name", default="", help="Display name.")
@click.option("--admin", is_flag=True, help="Make the user an admin of the realm.")
@click.option(
    "--language",
    type=click.Choice(list(LANGUAGES)),
    default=None,
    help="The invitation's language (default: the realm's default language).",
)
@REALM_OPTION
@JSON_OPTION
def user_invite(
    email: str,
    display_name: str,
    admin: bool,
    language: str | None,
    realm_name: str,
    as_json: bool,
) -> None:
    """Invite a user by email: the account is created with no password, and the user gets a
    link (valid 7 days) to choose one, which also verifies the address. The mail goes out
    with the sender (``idp serve``/``idp dev``, or ``idp mail send-pending``), in
    ``--language`` (as the console's invite form chooses); audited as the operator."""
    from ..services.audit import OPERATOR
    from ..services.errors import AlreadyExists, InvalidInput
    from ..services.invitations import invite_user

    with app_session() as db:
        try:
            row, expires = invite_user(
                db,
                find_realm_or_fail(db, realm_name),
                email,
                display_name=display_name,
                is_admin=admin,
                actor=OPERATOR,
                locale=language,
                client_address=None,
            )
        except (AlreadyExists, InvalidInput) as exc:
            db.rollback()
            fail(_(str(exc)))
        db.commit()
        out(
            as_json,
            {
                "email": row.email,
                "sub": row.sub,
                "admin": row.is_admin,
                "realm": realm_name,
                "invitation_expires_at": expires.isoformat(),
            },
            _(
                "%(email)s invited to realm %(realm)s; the invitation expires at %(expires)s",
                email=row.email,
                realm=realm_name,
                expires=expires.strftime("%Y-%m-%d %H:%M UTC"),
            ),
        )


@user.command("set-email")
@click.argument("email")
@click.argument("new_email")
@click.option(
    "--email-verified",
    is_flag=True,
    help="Vouch for the new address; without it the address is not verified.",
)
@REALM_OPTION
@JSON_OPTION
def user_set_email(
    email: str, new_email: str, email_verified: bool, realm_name: str, as_json: bool
) -> None:
    """Change a user's email address. ID tokens say ``email_verified: false`` until the user
    follows a verification link, unless ``--email-verified``; audited as the operator."""
    from ..services.audit import OPERATOR
    from ..services.errors import AlreadyExists, InvalidInput
    from ..services.verification import change_email

    with app_session() as db:
        row = _user(db, realm_name, email)
        try:
            change_email(
                db, row, new_email, verified=email_verified, actor=OPERATOR, client_address=None
            )
        except (AlreadyExists, InvalidInput) as exc:
            db.rollback()
            fail(_(str(exc)))
        db.commit()
        out(
            as_json,
            {"email": row.email, "email_verified": row.email_verified, "realm": realm_name},
            _("email address of %(old)s is now %(new)s", old=email, new=row.email),
        )
