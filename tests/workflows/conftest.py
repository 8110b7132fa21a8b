"""Time-skipping Temporal test server for timers measured in days.

One server per test: the server skips time only when no work is pending anywhere, so a
workflow left behind by an earlier test (its worker gone) would stall every later one.
It starts in a fraction of a second.
"""

import sys
from pathlib import Path

import pytest_asyncio
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from workflows import search_attributes as sa

BIN_DIR = Path(sys.executable).parent


@pytest_asyncio.fixture
async def time_env():
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(BIN_DIR / "temporal-test-server"), data_converter=pydantic_data_converter,
    )
    # The test server knows no custom search attributes until told; without them workflow tasks fail.
    await env.client.operator_service.add_search_attributes(AddSearchAttributesRequest(
        namespace="default",
        search_attributes={key.name: IndexedValueType.ValueType(key.indexed_value_type.value) for key in sa.ALL},
    ))
    yield env
    await env.shutdown()
