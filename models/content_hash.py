"""One digest of JSON-shaped content: the same facts in any key order give the same hash.

What an Idempotency-Key's replay check compares (a request's body) and what a cache is keyed by (a quote's facts).
"""

import hashlib
import json
from typing import Any


def content_hash(payload: Any) -> str:
    """SHA-256 hex of ``payload`` as JSON with sorted keys (``payload`` is JSON-serializable)."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
