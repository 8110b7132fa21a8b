"""Fault matrix fixtures: a time-skipping server per case (see tests/workflows/conftest.py for why)."""

from tests.workflows.conftest import time_env  # noqa: F401  (re-exported fixture)
