"""Saved histories made by focused tests (tests/integration/test_replay.py replays every saved one)."""

import os
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

HISTORIES = Path(__file__).resolve().parent / "histories"


async def replays_and_is_kept(history: WorkflowHistory, name: str) -> None:
    """``history`` must replay on today's workflows; ``RECORD_HISTORIES=1`` saves it as ``name`` unless
    a saved one exists."""
    from worker import WORKFLOWS

    replayed = await Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter).replay_workflow(history)
    assert replayed.replay_failure is None, name
    target = HISTORIES / f"{name}.json"
    if os.environ.get("RECORD_HISTORIES") == "1" and not target.exists():
        target.write_text(history.to_json())
