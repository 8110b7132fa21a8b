"""The production workers pass our packages through the workflow sandbox (worker.PRODUCTION_WORKFLOW_RUNNER):
a workflow module is then imported once and shared by every workflow run, instead of executed afresh in each.
What that sharing could break is module state one run changes and another sees: none may exist."""

import collections
import importlib
import pkgutil

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

import workflows
from worker import PRODUCTION_WORKFLOW_RUNNER

MUTABLE = (list, dict, set, bytearray, collections.deque)


def workflow_modules():
    return [importlib.import_module(f"workflows.{info.name}") for info in pkgutil.iter_modules(workflows.__path__)]


def test_workflow_modules_hold_no_mutable_globals():
    shared = [f"{module.__name__}.{name}" for module in workflow_modules() for name, value in vars(module).items()
              if not name.startswith("__") and isinstance(value, MUTABLE)]
    assert shared == [], "make these tuples, frozensets or MappingProxyTypes (or instance state)"


def test_only_production_workers_pass_our_packages_through():
    """Tests' workers and every Replayer keep the strict default, which refuses non-deterministic calls."""
    passed = PRODUCTION_WORKFLOW_RUNNER.restrictions.passthrough_modules
    assert {"workflows", "models", "activities"} <= passed
    assert "workflows" not in SandboxedWorkflowRunner().restrictions.passthrough_modules
