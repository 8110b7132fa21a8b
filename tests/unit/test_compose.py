"""docker-compose.yml: valid for Compose, in the shape Temporal recommends, and wired to the code.

Validated with `docker-compose config` (Debian's docker-compose package) when it is installed, which
also resolves anchors and ${VAR:-default}s; without it the file is read with PyYAML (same anchors and
merge keys, defaults resolved by the small substitution below) and the validation test is skipped."""

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from cli import build_parser
from config import Settings
from devstack import search_attribute_type
from workflows.search_attributes import ALL

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
APP_SERVICES = ("api", "worker", "migrate")
ONE_SHOT = ("temporal-schema", "temporal-namespace", "migrate")
COMPOSE_BIN = shutil.which("docker-compose")
# Worker Versioning (Worker Deployments with build ids) needs server 1.28 or later.
MIN_SERVER = (1, 28)


def _resolved() -> dict:
    if COMPOSE_BIN:
        out = subprocess.run([COMPOSE_BIN, "-f", str(COMPOSE), "config"], capture_output=True, text=True,
                             check=True, cwd=ROOT, env={"PATH": "/usr/bin:/bin"}).stdout
        return yaml.safe_load(out)
    text = re.sub(r"\$\{(\w+):-([^}]*)\}", r"\2", COMPOSE.read_text())  # ${VAR:-default} -> default
    return yaml.safe_load(text.replace("$$", "$"))


@pytest.fixture(scope="module")
def compose() -> dict:
    return _resolved()


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def _env(service: dict) -> dict:
    env = service.get("environment", {})
    return dict(item.split("=", 1) for item in env) if isinstance(env, list) else {k: str(v) for k, v in env.items()}


def _depends(service: dict) -> dict:
    deps = service.get("depends_on", {})
    return {name: None for name in deps} if isinstance(deps, list) else \
        {name: cond.get("condition") for name, cond in deps.items()}


def _command(service: dict) -> list[str]:
    command = service.get("command", [])
    return shlex.split(command) if isinstance(command, str) else list(command)


def _secret_names(service: dict) -> set[str]:
    return {s if isinstance(s, str) else s["source"] for s in service.get("secrets", [])}


@pytest.mark.skipif(COMPOSE_BIN is None, reason="docker-compose not installed (apt-get install docker-compose)")
def test_compose_accepts_the_file():
    result = subprocess.run([COMPOSE_BIN, "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr


def test_required_services_exist(services):
    assert {"postgres", "temporal-schema", "temporal", "temporal-namespace", "temporal-ui", "api", "worker",
            "migrate"} <= services.keys()


def test_temporal_runs_the_server_image_pinned_to_a_versioning_release(services):
    images = {name: service["image"] for name, service in services.items() if "temporalio/" in service.get("image", "")}
    assert not any("auto-setup" in image for image in images.values()), "auto-setup is deprecated"
    server = re.fullmatch(r"temporalio/server:(\d+)\.(\d+)\.(\d+)", images["temporal"])
    assert server, f"pin an exact version, not {images['temporal']}"
    assert tuple(map(int, server.groups()[:2])) >= MIN_SERVER
    version = images["temporal"].split(":")[1]
    assert images["temporal-schema"] == images["temporal-namespace"] == f"temporalio/admin-tools:{version}"
    assert re.fullmatch(r"temporalio/ui:\d+\.\d+\.\d+", images["temporal-ui"])


def test_temporal_has_its_own_role_databases_and_a_production_shard_count(services):
    env = _env(services["temporal"])
    assert env["DB"] == "postgres12" and env["POSTGRES_SEEDS"] == "postgres"
    assert env["POSTGRES_USER"] == "temporal" != _env(services["postgres"])["POSTGRES_USER"]
    assert (env["DBNAME"], env["VISIBILITY_DBNAME"]) == ("temporal", "temporal_visibility")
    assert int(env["NUM_HISTORY_SHARDS"]) >= 512, "shards are fixed forever at cluster creation"
    assert "POSTGRES_PWD" not in env and "temporal_db_password" in _secret_names(services["temporal"])
    init = (ROOT / "deploy/compose/postgres-init.sh").read_text()
    assert "CREATE ROLE temporal" in init and "CREATE DATABASE temporal OWNER temporal" in init
    assert "CREATE DATABASE temporal_visibility OWNER temporal" in init


def test_schema_is_a_temporal_sql_tool_job_before_the_server(services):
    script = (ROOT / "deploy/compose/temporal-schema.sh").read_text()
    assert "for db in temporal temporal_visibility; do" in script
    assert 'temporal-sql-tool --plugin postgres12 --ep postgres -p 5432 -u temporal --db "$db" setup-schema' in script
    assert 'update-schema -d "$versioned"' in script
    assert services["temporal-schema"]["entrypoint"][-1] == "/scripts/temporal-schema.sh"
    assert _depends(services["temporal"])["temporal-schema"] == "service_completed_successfully"


def test_namespace_job_is_bounded_and_registers_the_code_s_search_attributes(services):
    job = services["temporal-namespace"]
    assert re.fullmatch(r"on-failure:\d", job["restart"]), "unbounded retries hang `up` on a permanent error"
    assert _depends(job)["temporal"] == "service_healthy"
    registered = dict(arg.split("=") for arg in _command(job))
    assert registered == {key.name: search_attribute_type(key) for key in ALL}
    env = _env(job)
    assert env["NAMESPACE"] == _env(services["api"])["TEMPORAL_NAMESPACE"] == _env(services["worker"])[
        "TEMPORAL_NAMESPACE"]
    days = re.fullmatch(r"(\d+)d", env["RETENTION"])
    assert days and int(days.group(1)) >= 7, "closed orders must stay visible for more than a day"


def test_every_long_running_service_has_a_health_check(services):
    for name, service in services.items():
        if name not in ONE_SHOT:
            assert "healthcheck" in service, name


def test_every_dependency_waits_for_a_condition(services):
    for name, service in services.items():
        for dependency, condition in _depends(service).items():
            wanted = "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
            assert condition == wanted, (name, dependency, condition)


@pytest.mark.parametrize("name", ["api", "worker"])
def test_app_services_wait_for_migrations_and_the_namespace(services, name):
    deps = _depends(services[name])
    assert deps["migrate"] == deps["temporal-namespace"] == "service_completed_successfully"


def test_only_the_api_is_published(services):
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"api", "temporal-ui"}
    assert _env(services["api"])["API_HOST"] == "0.0.0.0"
    ui = services["temporal-ui"]
    assert ui.get("profiles") == ["ui"], "the UI starts only on request"
    assert all(str(port.get("host_ip", port) if isinstance(port, dict) else port).startswith("127.0.0.1")
               for port in ui["ports"])


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_point_at_postgres_and_temporal(services, name):
    env = _env(services[name])
    assert re.fullmatch(r"postgresql://orderflow@postgres:5432/orderflow", env["DATABASE_URL"])
    assert env["TEMPORAL_ADDRESS"] == "temporal:7233"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_secrets_come_from_mounted_files_only(services, name):
    service = services[name]
    env = _env(service)
    secret_like = {k for k in env if re.search(r"SECRET|PASSWORD|API_KEY|LICENSE_KEY", k) and not k.endswith("_FILE")}
    assert not secret_like, f"secrets in the environment: {sorted(secret_like)}"
    mounted = _secret_names(service)
    for key, value in env.items():
        if key.endswith("_FILE"):
            assert value.startswith("/run/secrets/") and value.removeprefix("/run/secrets/") in mounted, key


def test_api_and_worker_share_the_production_settings(services):
    """Production mode must start from this file with settings alone: both get the same values."""
    api, worker = _env(services["api"]), _env(services["worker"])
    for name in ("ENVIRONMENT", "UNSUBSCRIBE_SECRET_FILE", "CUSTOMER_TOKEN_SECRET_FILE", "PUBLIC_BASE_URL",
                 "TRUSTED_PROXIES", "SMTP_HOST", "SMTP_PORT", "SMTP_USERNAME", "SMTP_PASSWORD_FILE",
                 "STRIPE_API_KEY_FILE", "EASYPOST_API_KEY_FILE", "AVALARA_ACCOUNT_ID", "DATABASE_PASSWORD_FILE"):
        assert name in api and api[name] == worker[name], name


def test_every_variable_compose_passes_is_a_setting(services):
    """A misspelt variable would be silently ignored by pydantic-settings (extra="ignore")."""
    known = {name.upper() for name in Settings.model_fields}
    for name in APP_SERVICES:
        unknown = {key.removesuffix("_FILE") for key in _env(services[name])} - known
        assert not unknown, f"{name}: {sorted(unknown)}"


@pytest.mark.parametrize("name", ["api", "worker"])
def test_the_environment_compose_gives_loads_as_settings(services, name, tmp_path, monkeypatch):
    """What the containers get, with the secret files init-secrets.sh makes, is a valid configuration."""
    for key in list(Settings.model_fields):
        monkeypatch.delenv(key.upper(), raising=False)
    for key, value in _env(services[name]).items():
        if key.endswith("_FILE"):
            secret = tmp_path / value.rsplit("/", 1)[1]
            secret.write_text("0123456789abcdef" * 4 + "\n" if re.search(r"SECRET_FILE$|PASSWORD_FILE$", key)
                              and not key.startswith(("STRIPE", "EASYPOST", "SMTP")) else "")
            value = str(secret)
        monkeypatch.setenv(key, value)
    settings = Settings(_env_file=None)
    assert settings.database_urls[0] == f"postgresql://orderflow:{'0123456789abcdef' * 4}@postgres:5432/orderflow"
    assert settings.temporal_namespace == "orderflow"


def test_the_worker_stops_after_its_drain(services):
    worker = services["worker"]
    grace = worker["stop_grace_period"]
    seconds = int(re.fullmatch(r"(\d+)s", grace).group(1)) if isinstance(grace, str) else int(grace)
    assert seconds > float(_env(worker)["WORKER_DRAIN_SECONDS"]), "docker would SIGKILL mid-drain"


def test_commands_are_real_orderflow_subcommands(services):
    parser = build_parser()
    subcommands = parser._subparsers._group_actions[0].choices
    for name in APP_SERVICES:
        command = _command(services[name])
        assert command[0] == "orderflow" and command[1] in subcommands, (name, command)
        parser.parse_args(command[1:])  # exits (SystemExit) on anything argparse rejects


def test_dockerfile_installs_runtime_dependencies_only_as_non_root():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", dockerfile, re.M)
    assert re.search(r"pip install[^\n]* \.", dockerfile)
    assert not re.search(r"pip install[^\n]*\.\[", dockerfile), "extras (dev, test) stay out of the image"
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.M)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert "secrets" in ignored and "tests" in ignored
