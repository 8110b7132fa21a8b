"""The ops alert digest: what is mailed to OPS_ALERT_EMAIL, as data and a plain-text template (pure).

Each item is mailed once: it is keyed by (kind, key), and a new alert on the same thing has a new key
(a parcel's next alert, a low-stock alert opened again after it resolved).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from models.base import Frozen
from models.notifications import EmailMessage

KIND_TITLES = {
    "parcel_alert": "Parcel alerts",
    "fraud_review_waiting": "Fraud reviews waiting",
    "return_decision_expiring": "Return requests about to expire undecided",
    "low_stock": "Low stock",
}


class OpsAlertInput(Frozen):
    """What the Schedule passes each run (from settings, fixed when the schedule is written)."""

    recipient: str = Field(min_length=3, max_length=320)
    fraud_wait_seconds: int = Field(gt=0)
    # A return request undecided this long expires (RETURN_APPROVAL_DAYS); warn this long before.
    return_approval_seconds: int = Field(14 * 86400, gt=0)
    expiry_warning_seconds: int = Field(6 * 3600, gt=0)


class AlertItem(Frozen):
    kind: str
    key: str
    summary: str
    since: datetime


def digest_email(recipient: str, digest_id: str, items: list[AlertItem]) -> EmailMessage:
    """One message per digest; its Message-ID comes from the digest id, so a resend is the same message."""
    sections = []
    for kind, title in KIND_TITLES.items():
        lines = [f"- {item.summary} (since {item.since:%Y-%m-%d %H:%M} UTC)" for item in items if item.kind == kind]
        if lines:
            sections.append(f"{title} ({len(lines)}):\n" + "\n".join(lines))
    counts = ", ".join(f"{sum(1 for i in items if i.kind == kind)} {title.lower()}"
                       for kind, title in KIND_TITLES.items() if any(i.kind == kind for i in items))
    return EmailMessage(to=recipient, subject=f"orderflow ops alerts: {counts}", idempotency_key=f"ops:{digest_id}",
                        text="\n\n".join(sections) + "\n\nThe work queues (GET /work-queues) list what is still open.\n")
