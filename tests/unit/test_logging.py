import json
import logging

import structlog
from temporalio.testing import ActivityEnvironment

from logging_setup import configure_logging


async def test_activity_logs_are_json_with_workflow_ids(capsys):
    configure_logging("INFO", json=True)
    log = structlog.get_logger("orderflow.test")

    async def an_activity() -> None:
        log.info("order created", order_id="ord_abc")

    await ActivityEnvironment().run(an_activity)
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["event"] == "order created"
    assert record["order_id"] == "ord_abc"
    assert record["workflow_id"] == "test"  # ActivityEnvironment's default workflow id
    assert record["level"] == "info" and "timestamp" in record
    logging.getLogger().setLevel(logging.WARNING)
