"""Fixtures: a real database (SQLite, or PostgreSQL when IDP_TEST_DATABASE_URL is set), the
app served over real HTTP by a werkzeug server in a thread, and a fresh realm per test so
tests never depend on each other's data or order."""

from __future__ import annotations

import ast
import itertools
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from idp import clock, create_app
from idp.cli import upgrade_database
from idp.db import get_session
from idp.models import Realm
from idp.services import factors, totp
from idp.services.clients import create_client
from idp.services.realms import create_realm, set_realm_policy
from idp.services.users import create_user, find_user_by_email
from tests.helpers import Browser, totp_code, wait_for_step_room

PASSWORD = "correct horse battery staple"

# The idp command speaks the shell's language (SPEC section 8): tests read its English output
# unless a test sets a locale itself.
for _name in ("LC_ALL", "LC_MESSAGES"):
    os.environ.pop(_name, None)
os.environ["LANG"] = "C.UTF-8"


def _fresh_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


#: Test modules whose outcome doesn't depend on the database (pages in a browser, relying-party
#: interop, fuzzing, packaging, the catalog): they run in the default (SQLite) run and are
#: skipped when the suite runs against PostgreSQL, which keeps CI short.
#: ``IDP_TEST_EVERYTHING=1`` runs them there too.
DATABASE_INDEPENDENT = (
    "test_browser",
    "test_interop_",
    "test_fuzz",
    "test_packaging",
    "test_i18n",
    "test_issue17_frontchannel_browser",
)


#: What a test needs, read from the fixtures it asks for. A test that asks for one of these
#: carries the marker, so that ``-m "not browser and not interop and not postgres"`` (``make
#: test-fast``) leaves it out although the test itself doesn't repeat the marker. Whole modules
#: say theirs with ``pytestmark`` (test_browser_*.py, test_interop_*.py). The markers are
#: registered, with what each needs, in pyproject.toml.
NEEDS = {
    "chromium": "browser",  # Debian's chromium through Playwright
    "new_context": "browser",
    "axe_source": "browser",  # and Node.js (npm ci of axe-core)
    "node_rp": "interop",  # openid-client on Node.js
    "scratch_postgres": "postgres",  # a PostgreSQL server to create databases on
    "postgres_database": "postgres",
    "own_postgres": "postgres",  # PostgreSQL's binaries, to run a server of its own
}


def _module_marks(path: Path) -> set[str]:
    """The markers a test module's ``pytestmark`` gives all its tests, read without importing it."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and "pytestmark" in [
            getattr(t, "id", "") for t in node.targets
        ]:
            return {
                n.attr
                for n in ast.walk(node.value)
                if isinstance(n, ast.Attribute) and getattr(n.value, "attr", "") == "mark"
            }
    return set()


def _matches(expression: ast.expr, marks: set[str]) -> bool | None:
    """``-m``'s expression (``not browser and not slow``) for a test with ``marks``; None
    when it uses more than names, ``and``, ``or``, ``not`` and parentheses."""
    if isinstance(expression, ast.Name):
        return expression.id in marks
    if isinstance(expression, ast.UnaryOp) and isinstance(expression.op, ast.Not):
        inner = _matches(expression.operand, marks)
        return None if inner is None else not inner
    if isinstance(expression, ast.BoolOp):
        values = [_matches(value, marks) for value in expression.values]
        if None in values:
            return None
        return all(values) if isinstance(expression.op, ast.And) else any(values)
    return None


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """With ``-m``, a test module whose own ``pytestmark`` rules out all its tests is not even
    imported, whatever markers its tests add: ``make test-fast`` skips importing the browser,
    interop and slow modules (collecting every module takes 5 to 20 seconds)."""
    text = config.option.markexpr
    if not text or not (
        collection_path.name.startswith("test_") and collection_path.suffix == ".py"
    ):
        return None
    try:
        expression = ast.parse(text, mode="eval").body
    except SyntaxError:
        return None
    marks = _module_marks(collection_path)
    others = sorted({n.id for n in ast.walk(expression) if isinstance(n, ast.Name)} - marks)
    if len(others) > 8:
        return None
    for size in range(len(others) + 1):
        for added in itertools.combinations(others, size):
            if _matches(expression, marks | set(added)) is not False:
                return None  # some test of the module could still be selected
    return True


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for name in set(getattr(item, "fixturenames", ())) & NEEDS.keys():
            item.add_marker(NEEDS[name])
    if not os.environ.get("IDP_TEST_DATABASE_URL") or os.environ.get("IDP_TEST_EVERYTHING"):
        return
    skip = pytest.mark.skip(
        reason="database-independent: runs in the SQLite run (IDP_TEST_EVERYTHING=1: here too)"
    )
    for item in items:
        if item.path.name.startswith(DATABASE_INDEPENDENT):
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _system_clock() -> Iterator[None]:
    """Whatever a test does to ``idp.clock`` (``travel``, ``freeze``), the next test starts
    on the system clock, even when the test failed half-way."""
    clock.reset()
    yield
    clock.reset()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("IDP_TEST_DATABASE_URL")
    if url:
        _fresh_postgres(url)
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'idp.sqlite3'}"


class _Dispatch:
    def __init__(self) -> None:
        self.app: Flask | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        assert self.app is not None
        return self.app(environ, start_response)


@dataclass
class LiveServer:
    url: str
    app: Flask
    _server: Any = None

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.app.extensions["idp.engine"].dispose()


def start_server(
    database_url: str, instance: str, *, localhost: bool = False, **overrides: Any
) -> LiveServer:
    """``localhost=True`` names the server ``http://localhost:<port>`` in its base URL (the
    WebAuthn tests: browsers refuse WebAuthn on an IP-address origin, issue 10)."""
    dispatch = _Dispatch()
    server = make_server("127.0.0.1", 0, dispatch, threaded=True)
    url = f"http://{'localhost' if localhost else '127.0.0.1'}:{server.server_port}"
    app = create_app(
        {"instance_path": instance, "database_url": database_url, "base_url": url, **overrides}
    )
    dispatch.app = app
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return LiveServer(url=url, app=app, _server=server)


@pytest.fixture(scope="session")
def instance_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("instance"))


@pytest.fixture(scope="session")
def live(database_url: str, instance_dir: str) -> Iterator[LiveServer]:
    server = start_server(database_url, instance_dir)
    upgrade_database(server.app)
    yield server
    server.stop()


@pytest.fixture
def server(
    request: pytest.FixtureRequest, live: LiveServer, database_url: str, instance_dir: str
) -> Iterator[LiveServer]:
    """The live server; a test marked ``@pytest.mark.settings(...)`` gets its own."""
    marker = request.node.get_closest_marker("settings")
    if marker is None:
        yield live
        return
    own = start_server(database_url, instance_dir, **marker.kwargs)
    yield own
    own.stop()


@pytest.fixture
def app(server: LiveServer) -> Flask:
    return server.app


@dataclass
class TestUser:
    email: str
    password: str
    id: int
    sub: str
    totp_secret: str | None = None
    backup_codes: list[str] = field(default_factory=list)


@dataclass
class TestRealm:
    name: str
    id: int
    base: str
    server: LiveServer

    @property
    def issuer(self) -> str:
        return f"{self.base}/realms/{self.name}"

    def url(self, path: str) -> str:
        return f"{self.issuer}/{path.lstrip('/')}"

    @property
    def endpoints(self) -> dict[str, str]:
        base = f"{self.issuer}/protocol/openid-connect"
        return {
            "auth": f"{base}/auth",
            "token": f"{base}/token",
            "userinfo": f"{base}/userinfo",
            "certs": f"{base}/certs",
            "logout": f"{base}/logout",
            "revoke": f"{base}/revoke",
            "introspect": f"{base}/token/introspect",
        }

    def row(self, db: Session) -> Realm:
        """This realm's row in ``db`` (a session of the live server's app)."""
        realm = db.get(Realm, self.id)
        assert realm is not None
        return realm

    def user(
        self,
        email: str | None = None,
        *,
        password: str = PASSWORD,
        admin: bool = False,
        with_totp: bool = False,
    ) -> TestUser:
        email = email or f"user-{secrets.token_hex(4)}@example.com"
        with self.server.app.app_context():
            db = get_session()
            row = create_user(db, self.row(db), email, password, is_admin=admin)
            db.commit()
            result = TestUser(email=email, password=password, id=row.id, sub=row.sub)
            if with_totp:
                pending = factors.start_totp_enrolment(db, row)
                secret = factors.pending_secret(db, row)
                assert pending and secret
                # Enrol with the previous step's code so that sign-ins in the test can use
                # the current and the next step (each step is accepted once, SPEC L2). The
                # code must not cross a step boundary before it is checked (T-2 is refused).
                wait_for_step_room(2.0)
                result.backup_codes = factors.enable_totp(
                    db,
                    row,
                    totp_code(secret, -1),
                    actor="test",
                    client_address=None,
                    keep_sid=None,
                )
                db.commit()
                result.totp_secret = secret
        return result

    def client(
        self,
        *,
        public: bool = False,
        redirect_uri: str = "http://127.0.0.1:9/cb",
        post_logout: str = "http://127.0.0.1:9/bye",
        **kw: Any,
    ) -> tuple[str, str | None]:
        with self.server.app.app_context():
            db = get_session()
            new = create_client(
                db,
                self.row(db),
                "Test RP",
                [redirect_uri],
                public=public,
                post_logout_redirect_uris=[post_logout],
                **kw,
            )
            db.commit()
            return new.client.client_id, new.client_secret

    def set_policy(self, **kw: Any) -> None:
        """Change the realm's sign-in policy (``require_2fa``, ``grace_days``,
        ``trust_browser_days``) as an operator would."""
        with self.server.app.app_context():
            db = get_session()
            set_realm_policy(db, self.row(db), actor="test", client_address=None, **kw)
            db.commit()

    def lookup_user(self, email: str) -> Any:
        with self.server.app.app_context():
            db = get_session()
            return find_user_by_email(db, self.row(db), email)

    def browser(self) -> Browser:
        return Browser(self.base)


@pytest.fixture
def realm(server: LiveServer) -> TestRealm:
    name = f"r{secrets.token_hex(5)}"
    with server.app.app_context():
        db = get_session()
        row = create_realm(db, name, f"Test {name}")
        db.commit()
        return TestRealm(name=name, id=row.id, base=server.url, server=server)


@dataclass
class RelyingParty:
    client_id: str
    client_secret: str | None
    redirect_uri: str
    post_logout: str


@pytest.fixture
def rp(realm: TestRealm) -> RelyingParty:
    redirect_uri = "http://127.0.0.1:9/cb"
    client_id, secret = realm.client(redirect_uri=redirect_uri)
    return RelyingParty(client_id, secret, redirect_uri, "http://127.0.0.1:9/bye")


# -- real browsers (tests marked ``browser``) ------------------------------------------------------
@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Debian's chromium driven by Playwright. Required: if it is missing the browser tests
    fail (CI installs it), they never skip."""
    from playwright.sync_api import sync_playwright

    from tests.browser_support import CHROMIUM, LAUNCH_ARGS

    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_context(chromium: Any) -> Iterator[Callable[..., Any]]:
    """A factory of fresh browser contexts (no shared cookies) returning a new page of each;
    all are closed after the test."""
    from tests.browser_support import TIMEOUT_MS

    made: list[Any] = []

    def make(**options: Any) -> Any:
        context = chromium.new_context(accept_downloads=True, **options)
        context.set_default_timeout(TIMEOUT_MS)
        made.append(context)
        return context.new_page()

    yield make
    for context in made:
        context.close()


@pytest.fixture
def test_rp(realm: TestRealm) -> Iterator[Any]:
    """The Authlib relying party of tests/rp_app.py, served for real and registered in the
    realm as a confidential client."""
    from tests.rp_app import start_rp

    rp = start_rp(realm)
    yield rp
    rp.stop()


@pytest.fixture(scope="module")
def axe_source() -> str:
    """axe-core (npm), the accessibility engine of Lighthouse and most CI a11y checks."""
    from tests.browser_support import A11Y_DIR
    from tests.helpers import npm_ci

    npm_ci(A11Y_DIR, "axe-core/axe.min.js")
    return (A11Y_DIR / "node_modules" / "axe-core" / "axe.min.js").read_text(encoding="utf-8")


__all__ = ["PASSWORD", "TestRealm", "TestUser", "RelyingParty", "totp"]


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[Any]:
    """A real SMTP server (aiosmtpd) on loopback for the whole session."""
    from tests.support.smtp import SmtpServer

    smtp = SmtpServer()
    yield smtp
    smtp.stop()


@pytest.fixture
def mailbox(server: LiveServer, smtp_server: Any) -> Iterator[Any]:
    """The live server sends mail to ``smtp_server`` during this test (``mailbox.deliver()``
    runs the outbox sender once; ``mailbox.to(address)`` delivers and returns the mail)."""
    from tests.support.smtp import Mailbox

    settings = server.app.extensions["idp.settings"]
    saved = (settings.smtp_host, settings.smtp_port)
    settings.smtp_host, settings.smtp_port = "127.0.0.1", smtp_server.port
    smtp_server.handler.refuse = False
    yield Mailbox(server.app, smtp_server)
    settings.smtp_host, settings.smtp_port = saved
    smtp_server.handler.refuse = False
