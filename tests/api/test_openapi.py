"""The published API contract: the OpenAPI document the app serves equals the saved `openapi.json`.

A refactor must not change it. A change on purpose is saved with
`UPDATE_OPENAPI=1 pytest tests/api/test_openapi.py` and reviewed as a diff of openapi.json.
"""

import json
import os
from pathlib import Path

from api.app import create_app
from config import Settings

SAVED = Path(__file__).resolve().parents[2] / "openapi.json"


def current_document() -> str:
    app = create_app(Settings(environment="test", database_url="postgresql://unused/db"))
    return json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n"


def test_openapi_document_matches_the_saved_one():
    document = current_document()
    if os.environ.get("UPDATE_OPENAPI") == "1":
        SAVED.write_text(document)
    assert SAVED.exists(), "openapi.json is missing: save it with UPDATE_OPENAPI=1"
    assert json.loads(document) == json.loads(SAVED.read_text()), (
        "the API contract changed: if on purpose, save it with UPDATE_OPENAPI=1 and review the diff of openapi.json")
