"""Workflows import only models and activity interfaces, and the interfaces match the real activities.

Loading a workflow must not import SQLAlchemy, a database driver or a provider SDK (they would enter the
workflow sandbox). Workflows call activities through the stubs in ``activities/interfaces/``; the worker
registers the real classes. Histories replay by activity name and payloads decode by the stubs' types, so
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
FORBIDDEN = ("sqlalchemy", "psycopg", "stripe", "easypost", "avalara")

LOAD_EVERY_WORKFLOW_MODULE = f"""
import importlib, json, pkgutil, sys
import workflows
for module in pkgutil.iter_modules(workflows.__path__):
    importlib.import_module("workflows." + module.name)
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in {FORBIDDEN!r})))
"""


def test_loading_every_workflow_module_imports_no_database_or_provider_sdk():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    loaded = subprocess.run([sys.executable, "-c", LOAD_EVERY_WORKFLOW_MODULE], cwd=ROOT, env=env,
                            capture_output=True, text=True, check=True, timeout=120)
    assert json.loads(loaded.stdout.strip().splitlines()[-1]) == []


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
