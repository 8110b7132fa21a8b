"""The installed package carries every top-level package of the repository.

Tests run from the checkout, where anything imports; `orderflow` (the console script) and the container
run the installed distribution, where a package missing from setuptools' `include` is a
ModuleNotFoundError at the first command that needs it.
"""

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOT_SHIPPED = {"tests", "bench", "examples"}


def test_every_top_level_package_is_installed():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = config["packages"]["find"]["include"]
    packages = {path.parent.name for path in ROOT.glob("*/__init__.py")} - NOT_SHIPPED
    left_out = {name for name in packages if not any(fnmatch.fnmatch(name, pattern) for pattern in patterns)}
    assert left_out == set(), f"add {sorted(left_out)} to [tool.setuptools.packages.find] include"
    modules = {path.stem for path in ROOT.glob("*.py")}
    assert modules - set(config["py-modules"]) == set()
