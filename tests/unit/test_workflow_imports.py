"""Workflows import only models and activity interfaces, and the interfaces match the real activities.

Loading a workflow must not import SQLAlchemy, a database driver or a provider SDK (they would enter the
workflow sandbox); loading models, the pure domain, not even a PDF renderer. Workflows call activities
through the stubs in ``activities/interfaces/``; the worker registers the real classes. Histories replay by activity name and payloads decode by the stubs' types, so
each stub must carry exactly its implementation's names, parameters and types.
"""

import importlib
import inspect
import json
import os
import pkgutil
import subprocess
import sys
import typing
from pathlib import Path

import pytest

import activities.interfaces

ROOT = Path(__file__).resolve().parents[2]
DATABASE_AND_PROVIDERS = ("sqlalchemy", "psycopg", "stripe", "easypost", "avalara")
FILES_AND_RENDERING = ("fpdf", "fontTools", "ttf_opensans")  # models render nothing (adapters/invoice_pdf.py)

LOAD_EVERY_MODULE = """
import importlib, json, pkgutil, sys
package = importlib.import_module(sys.argv[1])
for module in pkgutil.iter_modules(package.__path__):
    importlib.import_module(sys.argv[1] + "." + module.name)
print(json.dumps(sorted(sys.modules)))
"""


def _modules_loaded_by(package: str) -> set[str]:
    """Every module a fresh interpreter holds after importing each module of ``package``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    loaded = subprocess.run([sys.executable, "-c", LOAD_EVERY_MODULE, package], cwd=ROOT, env=env,
                            capture_output=True, text=True, check=True, timeout=120)
    return set(json.loads(loaded.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(("package", "forbidden"), [
    ("workflows", DATABASE_AND_PROVIDERS),
    ("models", DATABASE_AND_PROVIDERS + FILES_AND_RENDERING),
])
def test_loading_every_module_of_a_pure_layer_imports_no_database_provider_or_renderer(package, forbidden):
    assert sorted(name for name in _modules_loaded_by(package) if name.split(".")[0] in forbidden) == []


def _classes_defined_in(module) -> list[type]:
    return [cls for _, cls in inspect.getmembers(module, inspect.isclass) if cls.__module__ == module.__name__]


def _interface_classes() -> list[tuple[str, type]]:
    """(area, stub class) for every stub: ``activities/interfaces/<area>.py`` mirrors ``activities/<area>.py``."""
    return [(module.name, stub) for module in pkgutil.iter_modules(activities.interfaces.__path__)
            for stub in _classes_defined_in(importlib.import_module(f"activities.interfaces.{module.name}"))]


def _activities(cls) -> dict:
    return {name: member for name, member in inspect.getmembers(cls, inspect.isfunction)
            if hasattr(member, "__temporal_activity_definition")}


def _shape(fn) -> tuple:
    """Parameter names and kinds, and every resolved type (parameters and result)."""
    parameters = [(p.name, p.kind) for p in inspect.signature(fn).parameters.values()]
    return parameters, typing.get_type_hints(fn)


@pytest.mark.parametrize(("area", "stub"), _interface_classes(),
                         ids=[f"{area}.{stub.__name__}" for area, stub in _interface_classes()])
def test_each_interface_matches_its_implementation(area, stub):
    real = getattr(importlib.import_module(f"activities.{area}"), stub.__name__)
    stubs, implemented = _activities(stub), _activities(real)
    assert stubs, f"{stub.__name__} stub declares no activity"
    assert sorted(stubs) == sorted(implemented)
    for name, declared in stubs.items():
        assert _shape(declared) == _shape(implemented[name]), f"{stub.__name__}.{name} differs from its implementation"


def test_every_registered_activity_has_an_interface():
    """A new activity must get its stub too, or no workflow could call it without importing the implementation."""
    declared = {name for _, stub in _interface_classes() for name in _activities(stub)}
    implemented = {name for module in pkgutil.iter_modules([str(ROOT / "activities")])
                   for cls in _classes_defined_in(importlib.import_module(f"activities.{module.name}"))
                   for name in _activities(cls)}
    assert implemented - declared == set()
