"""``idp keys`` (token-signing keys and the data-encryption key) and ``idp secrets`` (new
values for the production secrets)."""

from __future__ import annotations

import click

from .common import JSON_OPTION, REALM_OPTION, _, app_session, find_realm_or_fail, get_app, out


@click.group()
def keys() -> None:
    """Token-signing keys and the data-encryption key."""


@keys.command("rotate")
@click.option("--alg", type=click.Choice(["RS256", "ES256"]), default=None)
@REALM_OPTION
@JSON_OPTION
def keys_rotate(alg: str | None, realm_name: str, as_json: bool) -> None:
    """Add a new signing key; the old one stays published until `idp keys retire`."""
    from ..services.keys import rotate_signing_key

    with app_session() as db:
        row = rotate_signing_key(db, find_realm_or_fail(db, realm_name), alg)
        db.commit()
        text = _("new signing key %(kid)s (%(alg)s)", kid=row.kid, alg=row.alg)
        out(as_json, {"kid": row.kid, "alg": row.alg}, text)


@keys.command("retire")
@REALM_OPTION
def keys_retire(realm_name: str) -> None:
    """Stop publishing the keys replaced by earlier rotations."""
    from ..services.keys import retire_signing_keys

    with app_session() as db:
        count = retire_signing_keys(db, find_realm_or_fail(db, realm_name))
        db.commit()
        click.echo(_("signing keys retired: %(count)d", count=count))


@keys.command("list")
@REALM_OPTION
@JSON_OPTION
def keys_list(realm_name: str, as_json: bool) -> None:
    from ..services.keys import list_signing_keys

    with app_session() as db:
        rows = list_signing_keys(db, find_realm_or_fail(db, realm_name))
        data = [{"kid": r.kid, "alg": r.alg, "status": r.status} for r in rows]
        out(as_json, data, "\n".join(f"{d['kid']}\t{d['alg']}\t{d['status']}" for d in data))


@keys.command("rotate-data-key")
def keys_rotate_data_key() -> None:
    """Re-encrypt every TOTP key, private signing key and queued mail's parameters with a
    new data key.

    With generated keys (instance/secrets.json) the command makes the new key itself and drops
    the old one at the end; running servers pick the change up on their own. With
    IDP_DATA_KEYS from the environment, put the new key first there (``new,old``), restart,
    run this command, then remove the old key."""
    from cryptography.fernet import Fernet

    from ..config import save_data_keys
    from ..services.context import reset_cipher
    from ..services.keys import reencrypt_data

    settings = get_app().extensions["idp.settings"]
    generated = "data_keys" in settings.generated
    with app_session() as db:
        if generated:
            # Publish [new, old] first: running servers (which watch the file) then decrypt
            # with either and encrypt with the new key before anything is re-encrypted.
            save_data_keys(settings, [Fernet.generate_key().decode(), *settings.data_keys])
        reset_cipher()
        count = reencrypt_data(db)
        db.commit()
        if generated:
            save_data_keys(settings, settings.data_keys[:1])
            reset_cipher()
        click.echo(_("values re-encrypted with the first data key: %(count)d", count=count))
        if not generated and len(settings.data_keys) > 1:
            click.echo(_("now remove the old key(s) from IDP_DATA_KEYS and restart"))


@click.command("secrets")
@JSON_OPTION
def secrets_command(as_json: bool) -> None:
    """Print new values for the secrets production needs (IDP_SECRET_KEY, IDP_DATA_KEYS,
    IDP_CODE_PEPPER) as shell assignments. Store them in your secret manager: losing
    IDP_DATA_KEYS loses every TOTP key and signing key; changing IDP_CODE_PEPPER voids every
    backup code."""
    from cryptography.fernet import Fernet

    from ..config import new_secret

    values = {
        "IDP_SECRET_KEY": new_secret(),
        "IDP_DATA_KEYS": Fernet.generate_key().decode(),
        "IDP_CODE_PEPPER": new_secret(),
    }
    out(as_json, values, "\n".join(f"{name}={value}" for name, value in values.items()))
