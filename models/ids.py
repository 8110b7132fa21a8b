"""Opaque public ids: a type prefix plus 26 base32 characters of randomness.

Ids are built from a UUID handed in by the caller, so workflows can use
``workflow.uuid4()`` (deterministic on replay) and everything else ``uuid.uuid4()``.
"""

import base64
import re
import uuid

PREFIXES = {
    "product": "prod", "variant": "var", "location": "loc", "cart": "cart", "cart_line": "cl",
    "checkout": "chk", "order": "ord", "order_line": "ol", "reservation": "res",
    "payment": "pay", "shipment": "shp", "import": "imp", "event": "evt", "low_stock_alert": "lsa",
    "api_key": "key", "audit": "aud", "transfer": "trf", "quote": "quo",
    "refund": "rf", "return": "rma",
    "subscription": "sub", "subscription_plan": "plan", "customer": "cus", "customer_address": "adr",
    "draft_order": "dft",
}

_ID_RE = re.compile(r"^([a-z]+)_([a-z2-7]{26})$")


def public_id(kind: str, value: uuid.UUID | None = None) -> str:
    prefix = PREFIXES[kind]
    raw = (value or uuid.uuid4()).bytes
    return f"{prefix}_{base64.b32encode(raw).decode().rstrip('=').lower()}"


def is_public_id(kind: str, text: str) -> bool:
    match = _ID_RE.match(text)
    return bool(match) and match.group(1) == PREFIXES[kind]
