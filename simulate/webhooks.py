"""Provider-shaped webhook events, signed the way Stripe and EasyPost sign theirs, posted to the API."""

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from adapters.local.shipping import CARRIER

STRIPE_API_VERSION = "2024-06-20"


@dataclass(frozen=True)
class Sent:
    """One webhook delivery and the API's answer, as the CLI prints it."""

    provider: str
    event_type: str
    event_id: str
    subject: str
    status_code: int
    answer: str

    @property
    def accepted(self) -> bool:
        return self.status_code == 200

    def __str__(self) -> str:
        return (f"sent {self.provider} {self.event_type} {self.event_id} ({self.subject}) "
                f"→ {self.status_code} {self.answer}")


def stripe_signature(payload: bytes, secret: str, timestamp: int) -> str:
    """The ``Stripe-Signature`` header: HMAC-SHA256 of ``{t}.{payload}``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def easypost_signature(body: bytes, secret: str) -> str:
    """EasyPost's ``X-Hmac-Signature``: HMAC-SHA256 of the body alone."""
    return "hmac-sha256-hex=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class WebhookSender:
    """Posts events to ``/webhooks/stripe`` and ``/webhooks/easypost`` of the API behind ``http``."""

    def __init__(self, http: httpx.AsyncClient, *, stripe_secret: str, easypost_secret: str) -> None:
        self.http = http
        self.stripe_secret = stripe_secret
        self.easypost_secret = easypost_secret

    async def stripe(self, event_type: str, obj: dict, event_id: str, subject: str) -> Sent:
        if not self.stripe_secret:
            raise LookupError("no Stripe webhook secret: start `orderflow dev`, or set STRIPE_WEBHOOK_SECRET")
        payload = json.dumps({"id": event_id, "object": "event", "api_version": STRIPE_API_VERSION,
                              "created": int(time.time()), "livemode": False, "type": event_type,
                              "data": {"object": obj}}).encode()
        headers = {"stripe-signature": stripe_signature(payload, self.stripe_secret, int(time.time())),
                   "content-type": "application/json"}
        return await self._post("stripe", event_type, event_id, subject, payload, headers)

    async def tracking(self, tracking_code: str, status: str, event_id: str, subject: str,
                       occurred_at: datetime | None = None) -> Sent:
        """An EasyPost ``tracker.updated`` event for the local carrier's parcel."""
        if not self.easypost_secret:
            raise LookupError("no EasyPost webhook secret: start `orderflow dev`, or set EASYPOST_WEBHOOK_SECRET")
        now = _iso(datetime.now(UTC))
        detail = {"object": "TrackingDetail", "status": status, "message": status.replace("_", " "),
                  "datetime": _iso(occurred_at) if occurred_at else now, "source": CARRIER}
        tracker = {"id": f"trk_{hashlib.sha256(tracking_code.encode()).hexdigest()[:24]}", "object": "Tracker",
                   "mode": "test", "tracking_code": tracking_code, "status": status, "carrier": CARRIER,
                   "tracking_details": [detail], "created_at": now, "updated_at": now}
        body = json.dumps({"id": event_id, "object": "Event", "mode": "test", "description": "tracker.updated",
                           "created_at": now, "updated_at": now, "result": tracker}).encode()
        headers = {"x-hmac-signature": easypost_signature(body, self.easypost_secret),
                   "content-type": "application/json"}
        return await self._post("easypost", f"tracker.updated {status}", event_id, subject, body, headers)

    async def _post(self, provider, event_type, event_id, subject, body: bytes, headers: dict) -> Sent:
        response = await self.http.post(f"/webhooks/{provider}", content=body, headers=headers)
        return Sent(provider, event_type, event_id, subject, response.status_code, response.text.strip())
