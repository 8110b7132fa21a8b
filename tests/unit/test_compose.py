"""docker-compose.yml stays consistent with the code: services, wiring, search attributes, commands."""

import re
import shlex
from pathlib import Path

import pytest
import yaml

from cli import build_parser
from devstack import search_attribute_type
from workflows.search_attributes import ALL

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ("api", "worker", "migrate")


@pytest.fixture(scope="module")
def services() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def _env(service: dict) -> dict:
    env = service.get("environment", {})
    return dict(item.split("=", 1) for item in env) if isinstance(env, list) else env


def _depends(service: dict) -> dict:
    deps = service.get("depends_on", {})
    return {name: "service_started" for name in deps} if isinstance(deps, list) else \
        {name: cond.get("condition", "service_started") for name, cond in deps.items()}


def _command(service: dict) -> list[str]:
    command = service.get("command", [])
    return shlex.split(command) if isinstance(command, str) else list(command)


def test_required_services_exist(services):
    assert {"postgres", "temporal", "temporal-ui", "api", "worker", "migrate"} <= services.keys()


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_point_at_postgres_and_temporal(services, name):
    env = _env(services[name])
    assert re.fullmatch(r"postgresql://[^@]+@postgres:5432/orderflow", env["DATABASE_URL"])
    assert env["TEMPORAL_ADDRESS"] == "temporal:7233"


def test_api_listens_on_all_interfaces(services):
    assert _env(services["api"])["API_HOST"] == "0.0.0.0"
    assert "8000:8000" in services["api"]["ports"]


@pytest.mark.parametrize("name", ["api", "worker"])
def test_app_services_wait_for_migrations_and_temporal(services, name):
    deps = _depends(services[name])
    assert deps["migrate"] == "service_completed_successfully"
    assert "temporal" in deps


def test_temporal_persists_in_postgres(services):
    env = _env(services["temporal"])
    assert env["DB"] == "postgres12" and env["POSTGRES_SEEDS"] == "postgres"
    assert _depends(services["temporal"])["postgres"] == "service_healthy"
    assert "healthcheck" in services["postgres"]
    assert _depends(services["migrate"])["postgres"] == "service_healthy"
    assert _env(services["temporal-ui"])["TEMPORAL_ADDRESS"] == "temporal:7233"


def test_registered_search_attributes_match_the_code(services):
    script = " ".join(_command(services["temporal-admin-tools"]))
    registered = dict(re.findall(r"--name\s+(\w+)\s+--type\s+(\w+)", script))
    assert registered == {key.name: search_attribute_type(key) for key in ALL}


def test_commands_are_real_orderflow_subcommands(services):
    parser = build_parser()
    subcommands = parser._subparsers._group_actions[0].choices
    for name in APP_SERVICES:
        command = _command(services[name])
        assert command[0] == "orderflow" and command[1] in subcommands, (name, command)
        parser.parse_args(command[1:])  # exits (SystemExit) on anything argparse rejects


def test_dockerfile_installs_the_package_as_non_root():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", dockerfile, re.M)
    assert re.search(r"pip install[^\n]* \.", dockerfile)
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.M)
    assert (ROOT / ".dockerignore").exists()


def test_api_and_worker_share_the_settings_both_sides_need(services):
    """The worker signs unsubscribe links and the API checks them; both read the same provider keys."""
    api, worker = _env(services["api"]), _env(services["worker"])
    for name in ("UNSUBSCRIBE_SECRET", "PUBLIC_BASE_URL", "STRIPE_API_KEY", "EASYPOST_API_KEY", "AVALARA_ACCOUNT_ID"):
        assert name in api and api[name] == worker[name], name


def test_every_variable_compose_passes_is_a_setting(services):
    """A misspelt variable would be silently ignored by pydantic-settings (extra="ignore")."""
    from config import Settings

    known = {name.upper() for name in Settings.model_fields}
    for name in APP_SERVICES:
        unknown = set(_env(services[name])) - known
        assert not unknown, f"{name}: {sorted(unknown)}"
