"""Rules that used to be copied are written once: workflow ids, the order total, the Idempotency-Key header.

A copy drifts (one place changes, the other does not), so a second definition fails here.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("api", "services", "workflows", "activities", "db", "adapters", "models")


def places(pattern: str) -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                if re.search(pattern, line):
                    found.append(f"{path.relative_to(ROOT)}:{number}")
    return found


def test_workflow_ids_are_spelled_only_in_models_workflow_ids():
    spelled = places(r'f"(checkout|order|shipment|support|return|dispute|subscription|cart)-\{')
    assert spelled and all(place.startswith("models/workflow_ids.py:") for place in spelled), spelled


def test_the_order_total_formula_is_written_once():
    assert len(places(r"discount_total \+ (self\.)?tax\.total \+ (self\.)?shipping\.amount")) == 1


def test_the_idempotency_key_header_is_declared_once():
    declared = places(r'alias="Idempotency-Key"')
    assert [place.split(":")[0] for place in declared] == ["api/deps.py"], declared
