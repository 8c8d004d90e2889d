"""Settings, read from ``IDP_*`` environment variables.

Every setting is documented where it is defined, with what it affects. Secrets that are not
given in the environment (the session key, the data-encryption keys, the backup-code key) are
generated into the instance folder on first run; ``IDP_ENV=production`` refuses to start on
such generated secrets or on an ``http://`` issuer.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import Fernet


class ConfigError(RuntimeError):
    """The configuration cannot be used (raised at start-up, never at request time)."""


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _env_bool(name: str) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("", "0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be 1 or 0, not {raw!r}")


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from exc


@dataclass
class Settings:
    #: IDP_ENV: ``development`` (default) or ``production``. Production refuses generated
    #: secrets and an http issuer.
    env: str = "development"
    #: IDP_INSTANCE_PATH: folder for the SQLite database and generated secrets.
    instance_path: str = "instance"
    #: IDP_DATABASE_URL: SQLAlchemy URL. Default: SQLite file ``idp.sqlite3`` in the instance
    #: folder. PostgreSQL: ``postgresql+psycopg://user@host:5432/dbname``.
    database_url: str = ""
    #: IDP_HOST / IDP_PORT: where ``idp dev`` and ``idp serve`` listen.
    host: str = "127.0.0.1"
    port: int = 5000
    #: IDP_BASE_URL: public URL of the server; each realm's issuer is
    #: ``{IDP_BASE_URL}/realms/{realm}``. Its host is also the WebAuthn relying party id and
    #: its origin the one security keys are bound to. Default ``http://localhost:{IDP_PORT}``:
    #: browsers refuse WebAuthn on an IP-address origin such as ``http://127.0.0.1:5000``.
    base_url: str = ""
    #: IDP_PROXY_COUNT: how many reverse proxies sit in front; their X-Forwarded-For is then
    #: trusted for the client address used by throttling and the audit log. Default 0.
    proxy_count: int = 0
    #: IDP_SECRET_KEY: signs the browser cookie (CSRF token, interaction binding).
    secret_key: str = ""
    #: IDP_DATA_KEYS: comma-separated Fernet keys that encrypt TOTP keys and private signing
    #: keys at rest; the first encrypts, all decrypt (``idp keys rotate-data-key``).
    data_keys: list[str] = field(default_factory=list)
    #: IDP_CODE_PEPPER: key (outside the database) for the HMAC that stores backup codes.
    code_pepper: str = ""
    #: IDP_SIGNING_ALG: algorithm of newly created signing keys: RS256 (default) or ES256.
    signing_alg: str = "RS256"
    #: IDP_ARGON2_MEMORY_KIB / IDP_ARGON2_TIME_COST / IDP_ARGON2_PARALLELISM: argon2id cost for
    #: password hashes. OWASP's minimum by default (19 MiB, 2 passes, 1 lane). Hashes made with
    #: other parameters are upgraded at the user's next successful sign-in.
    argon2_memory_kib: int = 19456
    argon2_time_cost: int = 2
    argon2_parallelism: int = 1
    #: IDP_CODE_TTL: seconds an authorization code stays redeemable (default 60).
    code_ttl: int = 60
    #: IDP_ACCESS_TOKEN_TTL: access-token lifetime in seconds (default 300).
    access_token_ttl: int = 300
    #: IDP_ID_TOKEN_TTL: ID-token lifetime in seconds (default 300).
    id_token_ttl: int = 300
    #: IDP_REFRESH_TOKEN_TTL: refresh-token lifetime in seconds (default 30 days).
    refresh_token_ttl: int = 30 * 24 * 3600
    #: IDP_SSO_SESSION_TTL: how long a browser stays signed in (default 10 hours).
    sso_session_ttl: int = 10 * 3600
    #: IDP_INTERACTION_TTL: a half-finished sign-in expires after this many seconds
    #: (default 300, SPEC L7).
    interaction_ttl: int = 300
    #: IDP_REAUTH_TTL: a sensitive account action (enrol, replace, disable 2FA, new backup
    #: codes) needs a sign-in with every factor no older than this (default 300 s).
    reauth_ttl: int = 300
    #: IDP_KEY_CACHE_SECONDS: how long a process trusts what it caches from the database (a
    #: realm's row, its signing keys, the discovery and JWKS documents built from them) before
    #: it checks for a change made by another process or the CLI (one small query per realm).
    #: A change is seen within this many seconds. While the database is down, the last good
    #: values keep being used, so discovery and JWKS keep answering (default 5).
    key_cache_seconds: int = 5
    #: IDP_DB_CONNECT_TIMEOUT: seconds to wait for a new database connection, and for a free
    #: connection of the pool, before the request fails with 503 (default 5; PostgreSQL).
    db_connect_timeout: int = 5
    #: IDP_DB_STATEMENT_TIMEOUT: seconds one SQL statement may run before the database cancels
    #: it (PostgreSQL ``statement_timeout``; 0: no limit) and the request answers 503. On
    #: SQLite, how long a statement waits for another writer's lock (``busy_timeout``; 0: 60 s).
    #: Migrations are not limited. Default 10. A PostgreSQL that stops answering (frozen, not
    #: refusing) is waited for at most this plus IDP_DB_CONNECT_TIMEOUT, then the connection
    #: is dropped and the request answers 503 (with 0, nothing bounds that wait). Behind a
    #: pooler that refuses startup options (PgBouncer), set 0 and give the role its own:
    #: ``ALTER ROLE idp SET statement_timeout``.
    db_statement_timeout: int = 10
    #: IDP_DB_POOL_SIZE: database connections each process keeps, and opens no more than (a
    #: request that finds them all busy waits IDP_DB_CONNECT_TIMEOUT for one, then answers
    #: 503; while all of them have waited over a second for a database that stopped
    #: answering, at once). 0 (default): 10, and up to 20 more while busy. ``idp serve``
    #: sets it to its ``--threads`` when unset, and runs one thread more than the pool has
    #: connections: that thread stays free for ``/healthz`` and the cached discovery and
    #: JWKS while every other one waits for a frozen database.
    db_pool_size: int = 0
    #: IDP_RETRY_AFTER: the ``Retry-After`` (seconds) of a 503 answered while the database is
    #: unavailable (default 5).
    retry_after: int = 5
    #: IDP_TIMEZONE: the one time zone the pages show times in (an IANA name such as
    #: ``Asia/Tokyo``); the audit log states it. Default ``UTC``.
    timezone: str = "UTC"
    #: IDP_SMTP_HOST: the SMTP server mail is sent through. Empty (default): mail is not sent
    #: but written, whole, to the log (logger ``idp.mail``), so a developer can follow links.
    smtp_host: str = ""
    #: IDP_SMTP_PORT: its port. Default 465 with IDP_SMTP_SSL, else 587 with
    #: IDP_SMTP_STARTTLS, else 25.
    smtp_port: int = 0
    #: IDP_SMTP_USERNAME / IDP_SMTP_PASSWORD: log in with these (only when a username is set).
    smtp_username: str = ""
    smtp_password: str = ""
    #: IDP_SMTP_STARTTLS: ``1`` to upgrade the connection with STARTTLS (refusing to log in
    #: or send without it). IDP_SMTP_SSL: ``1`` for implicit TLS from the first byte.
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    #: IDP_SMTP_TIMEOUT: seconds to wait for the SMTP server before an attempt fails (default 10).
    smtp_timeout: int = 10
    #: IDP_MAIL_FROM: the From address. Default ``no-reply@<host of IDP_BASE_URL>``.
    mail_from: str = ""
    #: IDP_MAIL_SENDER: ``1`` (default) runs the mail sender as a thread in ``idp dev`` and in
    #: each ``idp serve`` worker; ``0`` leaves sending to ``idp mail send-pending`` (cron).
    mail_sender: bool = True
    #: IDP_CALLBACK_PRIVATE_ADDRESSES: whether the provider may call a client's URI (a
    #: back-channel logout URI) that resolves to a loopback, private, link-local or other
    #: non-public address: ``allow`` or ``refuse``. Default ``refuse`` with IDP_ENV=production
    #: (a registered URI cannot make the provider reach into its own network: SSRF), ``allow``
    #: in development (the applications run on the same machine).
    callback_private_addresses: str = ""
    #: IDP_BACKCHANNEL_LOGOUT_TIMEOUT: seconds one back-channel logout POST may take, to
    #: connect and to answer, before the attempt fails and is retried later (default 5).
    backchannel_logout_timeout: int = 5
    #: Extra settings for tests (not read from the environment).
    extra: dict[str, Any] = field(default_factory=dict)
    #: Which secrets were generated (and so are unfit for production).
    generated: list[str] = field(default_factory=list)

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")


_ENV_NAMES = {
    "env": "IDP_ENV",
    "instance_path": "IDP_INSTANCE_PATH",
    "database_url": "IDP_DATABASE_URL",
    "host": "IDP_HOST",
    "port": "IDP_PORT",
    "base_url": "IDP_BASE_URL",
    "proxy_count": "IDP_PROXY_COUNT",
    "secret_key": "IDP_SECRET_KEY",
    "data_keys": "IDP_DATA_KEYS",
    "code_pepper": "IDP_CODE_PEPPER",
    "signing_alg": "IDP_SIGNING_ALG",
    "argon2_memory_kib": "IDP_ARGON2_MEMORY_KIB",
    "argon2_time_cost": "IDP_ARGON2_TIME_COST",
    "argon2_parallelism": "IDP_ARGON2_PARALLELISM",
    "code_ttl": "IDP_CODE_TTL",
    "access_token_ttl": "IDP_ACCESS_TOKEN_TTL",
    "id_token_ttl": "IDP_ID_TOKEN_TTL",
    "refresh_token_ttl": "IDP_REFRESH_TOKEN_TTL",
    "sso_session_ttl": "IDP_SSO_SESSION_TTL",
    "interaction_ttl": "IDP_INTERACTION_TTL",
    "reauth_ttl": "IDP_REAUTH_TTL",
    "key_cache_seconds": "IDP_KEY_CACHE_SECONDS",
    "db_connect_timeout": "IDP_DB_CONNECT_TIMEOUT",
    "db_statement_timeout": "IDP_DB_STATEMENT_TIMEOUT",
    "db_pool_size": "IDP_DB_POOL_SIZE",
    "retry_after": "IDP_RETRY_AFTER",
    "timezone": "IDP_TIMEZONE",
    "smtp_host": "IDP_SMTP_HOST",
    "smtp_port": "IDP_SMTP_PORT",
    "smtp_username": "IDP_SMTP_USERNAME",
    "smtp_password": "IDP_SMTP_PASSWORD",
    "smtp_starttls": "IDP_SMTP_STARTTLS",
    "smtp_ssl": "IDP_SMTP_SSL",
    "smtp_timeout": "IDP_SMTP_TIMEOUT",
    "mail_from": "IDP_MAIL_FROM",
    "mail_sender": "IDP_MAIL_SENDER",
    "callback_private_addresses": "IDP_CALLBACK_PRIVATE_ADDRESSES",
    "backchannel_logout_timeout": "IDP_BACKCHANNEL_LOGOUT_TIMEOUT",
}


def load_settings(overrides: dict[str, Any] | None = None) -> Settings:
    """Read settings from the environment, apply ``overrides``, fill in generated secrets."""
    overrides = dict(overrides or {})
    values: dict[str, Any] = {}
    for f in fields(Settings):
        name = _ENV_NAMES.get(f.name)
        if name is None or name not in os.environ:
            continue
        if f.name == "instance_path" and instance_path_setting() is None:
            continue  # empty: as if unset (./instance), never the current directory itself
        if f.type == "int":
            values[f.name] = _env_int(name, 0)
        elif f.type == "bool":
            values[f.name] = _env_bool(name)
        elif f.name == "data_keys":
            values[f.name] = [k.strip() for k in os.environ[name].split(",") if k.strip()]
        else:
            values[f.name] = _env(name, "")
    values.update({k: v for k, v in overrides.items() if k != "extra"})
    settings = Settings(**values, extra=overrides.get("extra", {}))
    if settings.env not in ("development", "production"):
        raise ConfigError("IDP_ENV must be 'development' or 'production'")
    if settings.signing_alg not in ("RS256", "ES256"):
        raise ConfigError("IDP_SIGNING_ALG must be RS256 or ES256")
    for name in (
        "key_cache_seconds",
        "db_connect_timeout",
        "db_statement_timeout",
        "db_pool_size",
        "retry_after",
    ):
        if getattr(settings, name) < 0:
            raise ConfigError(f"{_ENV_NAMES[name]} must not be negative")
    if not settings.callback_private_addresses:
        settings.callback_private_addresses = "refuse" if settings.production else "allow"
    if settings.callback_private_addresses not in ("allow", "refuse"):
        raise ConfigError("IDP_CALLBACK_PRIVATE_ADDRESSES must be 'allow' or 'refuse'")
    if settings.backchannel_logout_timeout <= 0:
        settings.backchannel_logout_timeout = 5
    instance = Path(settings.instance_path).resolve()
    settings.instance_path = str(instance)
    if not settings.database_url:
        settings.database_url = f"sqlite:///{instance / 'idp.sqlite3'}"
    if not settings.base_url:
        settings.base_url = f"http://localhost:{settings.port}"
    settings.base_url = settings.base_url.rstrip("/")
    if settings.smtp_ssl and settings.smtp_starttls:
        raise ConfigError("IDP_SMTP_SSL and IDP_SMTP_STARTTLS exclude each other: choose one")
    if not settings.smtp_port:
        settings.smtp_port = 465 if settings.smtp_ssl else 587 if settings.smtp_starttls else 25
    if not settings.mail_from:
        host = urlsplit(settings.base_url).hostname or "localhost"
        settings.mail_from = f"no-reply@{host}"
    _fill_secrets(settings, instance)
    if settings.production:
        if settings.generated:
            raise ConfigError(
                "IDP_ENV=production refuses generated development secrets: set "
                + ", ".join(_ENV_NAMES[name] for name in settings.generated)
            )
        if not settings.base_url.startswith("https://"):
            raise ConfigError("IDP_ENV=production needs an https:// IDP_BASE_URL")
    return settings


def instance_path_setting() -> str | None:
    """IDP_INSTANCE_PATH when it names a folder; None when unset or empty (then
    ./instance, the default)."""
    value = os.environ.get(_ENV_NAMES["instance_path"], "")
    return value if value.strip() else None


def missing_instance() -> Path | None:
    """The instance folder the environment's settings need, when it holds no installation;
    else None. It is needed without IDP_DATABASE_URL (the SQLite file, ``idp.sqlite3``,
    lives there) and for any secret not given (``secrets.json``: generated there on first
    run). A folder that lacks what is needed (not there, or there but empty) holds no
    installation. ``idp`` commands other than those that make an installation refuse to run
    on a missing one rather than create it unasked."""
    secrets_given = all(
        os.environ.get(_ENV_NAMES[name], "").strip(" ,")
        for name in ("secret_key", "data_keys", "code_pepper")
    )
    database_given = bool(os.environ.get(_ENV_NAMES["database_url"], "").strip())
    if secrets_given and database_given:
        return None
    path = Path(instance_path_setting() or Settings.instance_path).resolve()
    if not database_given and not (path / "idp.sqlite3").is_file():
        return path
    if not secrets_given and not (path / "secrets.json").is_file():
        return path
    return None


def _fill_secrets(settings: Settings, instance: Path) -> None:
    """Generate missing secrets once into ``instance/secrets.json`` (mode 0600)."""
    wanted = [
        name for name in ("secret_key", "data_keys", "code_pepper") if not getattr(settings, name)
    ]
    if not wanted:
        return
    path = instance / "secrets.json"
    stored: dict[str, Any] = {}
    if path.exists():
        stored = json.loads(path.read_text())
    changed = False
    generators: dict[str, Callable[[], str | list[str]]] = {
        "secret_key": lambda: secrets.token_urlsafe(32),
        "data_keys": lambda: [Fernet.generate_key().decode()],
        "code_pepper": lambda: secrets.token_urlsafe(32),
    }
    for name in wanted:
        if name not in stored:
            stored[name] = generators[name]()
            changed = True
        setattr(settings, name, stored[name])
        settings.generated.append(name)
    if changed:
        instance.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(stored, fh, indent=2)
        os.replace(tmp, path)


def save_data_keys(settings: Settings, keys: list[str]) -> None:
    """Persist a new list of data keys (used by ``idp keys rotate-data-key``)."""
    if "data_keys" not in settings.generated:
        raise ConfigError(
            "IDP_DATA_KEYS comes from the environment: put the new key first there yourself"
        )
    path = Path(settings.instance_path) / "secrets.json"
    stored = json.loads(path.read_text())
    stored["data_keys"] = keys
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(stored, fh, indent=2)
    os.replace(tmp, path)
    settings.data_keys = keys


def new_secret() -> str:
    return secrets.token_urlsafe(32)
