"""deploy/k8s: valid Kubernetes objects (kubernetes-validate, offline, strict) wired to the code."""

import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from cli import build_parser
from config import Settings

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
KUBERNETES_VERSION = "1.33.0"
NOT_OBJECTS = {"temporal-values.yaml"}  # Helm values for Temporal's chart


def _objects() -> list[tuple[str, dict]]:
    return [(path.name, document) for path in sorted(K8S.glob("*.yaml")) if path.name not in NOT_OBJECTS
            for document in yaml.safe_load_all(path.read_text()) if document]


@pytest.fixture(scope="module")
def objects() -> dict[tuple[str, str], dict]:
    return {(document["kind"], document["metadata"]["name"]): document for _, document in _objects()}


@pytest.mark.parametrize(("path", "document"), _objects(), ids=lambda v: v if isinstance(v, str) else
                         f"{v['kind']}/{v['metadata']['name']}")
def test_manifest_is_a_valid_kubernetes_object(path, document):
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)  # raises on any schema error


def _pod(objects, kind: str, name: str) -> dict:
    return objects[(kind, name)]["spec"]["template"]["spec"]


def _container(objects, kind: str, name: str) -> dict:
    (container,) = _pod(objects, kind, name)["containers"]
    return container


def _env(objects, kind: str, name: str) -> dict[str, str]:
    config = objects[("ConfigMap", "orderflow-config")]["data"]
    return {**config, **{item["name"]: item["value"] for item in _container(objects, kind, name).get("env", [])}}


WORKLOADS = [("Deployment", "orderflow-api"), ("Deployment", "orderflow-worker"), ("Job", "orderflow-migrate")]


@pytest.mark.parametrize(("kind", "name"), WORKLOADS)
def test_workloads_run_real_subcommands_of_one_image_as_non_root(objects, kind, name):
    container = _container(objects, kind, name)
    command = container["command"]
    assert command[0] == "orderflow"
    build_parser().parse_args(command[1:])
    assert container["image"] == _container(objects, "Deployment", "orderflow-api")["image"]
    assert _pod(objects, kind, name)["securityContext"]["runAsNonRoot"] is True


@pytest.mark.parametrize(("kind", "name"), WORKLOADS)
def test_settings_are_real_and_secrets_are_mounted_files(objects, kind, name):
    known = {field.upper() for field in Settings.model_fields}
    env = _env(objects, kind, name)
    assert {key.removesuffix("_FILE") for key in env} <= known, "a misspelt setting is silently ignored"
    assert not [k for k in env if re.search(r"SECRET|PASSWORD|API_KEY|LICENSE_KEY", k) and not k.endswith("_FILE")]
    mounts = {mount["mountPath"]: mount["name"] for mount in _container(objects, kind, name)["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in _pod(objects, kind, name)["volumes"]}
    assert volumes[mounts["/run/secrets"]]["secret"]["secretName"] == "orderflow-secrets"
    assert all(v.startswith("/run/secrets/") for k, v in env.items() if k.endswith("_FILE"))


def test_the_config_is_a_valid_production_configuration(objects, tmp_path, monkeypatch):
    """Loads with the production validators, given secret files of the right shape."""
    shapes = {"stripe_api_key": "sk_live_" + "a" * 24, "stripe_webhook_secret": "whsec_" + "b" * 24,
              "easypost_api_key": "EZAK" + "c" * 24}
    for key, value in _env(objects, "Deployment", "orderflow-worker").items():
        if key.endswith("_FILE"):
            name = value.rsplit("/", 1)[1]
            (tmp_path / name).write_text(shapes.get(name, f"{name}-0123456789abcdef0123456789abcdef"))
            value = str(tmp_path / name)
        monkeypatch.setenv(key, value)
    settings = Settings(_env_file=None)
    assert settings.environment == "production" and settings.database_pgbouncer
    assert settings.temporal_api_key is not None and settings.worker_build_id


def test_api_probes_liveness_without_dependencies_and_readiness_on_readyz(objects):
    api = _container(objects, "Deployment", "orderflow-api")
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    hpa = objects[("HorizontalPodAutoscaler", "orderflow-api")]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "orderflow-api"}
    assert 1 < hpa["minReplicas"] < hpa["maxReplicas"]


def test_worker_gets_longer_than_its_drain_before_it_is_killed(objects):
    grace = _pod(objects, "Deployment", "orderflow-worker")["terminationGracePeriodSeconds"]
    assert grace > float(_env(objects, "Deployment", "orderflow-worker")["WORKER_DRAIN_SECONDS"])


def test_migrations_run_once_and_give_up(objects):
    job = objects[("Job", "orderflow-migrate")]["spec"]
    assert job["template"]["spec"]["restartPolicy"] == "Never" and job["backoffLimit"] <= 3
    assert job["activeDeadlineSeconds"] > 0
