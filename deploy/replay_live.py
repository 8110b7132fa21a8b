"""Pre-deploy gate: replay the histories of workflows running in production on the code about to ship.

    python -m deploy.replay_live [--query "ExecutionStatus = 'Running'"] [--limit 500]

Run from the NEW image against the production namespace (same TEMPORAL_* settings as the worker) before
promoting its build id. A non-zero exit lists runs whose history the new code would not replay (a change
that needs ``workflow.patched()``); CI replays the saved histories in tests/histories the same way.
"""

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator

from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

RUNNING = "ExecutionStatus = 'Running'"


async def replay_live(client: Client, query: str = RUNNING, limit: int = 500) -> tuple[int, dict[str, str]]:
    """Replays up to ``limit`` workflows matching ``query``: (how many, {workflow id: failure})."""
    import worker  # at call time: the workflow set of the build under test

    replayed, failures = 0, {}
    replayer = Replayer(workflows=worker.WORKFLOWS, data_converter=pydantic_data_converter)
    async with replayer.workflow_replay_iterator(_histories(client, query, limit)) as results:
        async for result in results:
            replayed += 1
            if result.replay_failure is not None:
                failures[result.history.workflow_id] = str(result.replay_failure)
    return replayed, failures


async def _histories(client: Client, query: str, limit: int) -> AsyncIterator[WorkflowHistory]:
    async for listed in client.list_workflows(query, limit=limit):
        yield await client.get_workflow_handle(listed.id, run_id=listed.run_id).fetch_history()


async def _main(query: str, limit: int) -> int:
    from config import get_settings
    from temporal_client import connect

    replayed, failures = await replay_live(await connect(get_settings()), query, limit)
    for workflow_id, failure in failures.items():
        print(f"REPLAY FAILS {workflow_id}: {failure}", file=sys.stderr)
    print(f"replayed {replayed} workflow(s) on this build: {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--query", default=RUNNING, help="visibility query (default: running workflows)")
    parser.add_argument("--limit", type=int, default=500)
    args = parser.parse_args()
    sys.exit(asyncio.run(_main(args.query, args.limit)))
