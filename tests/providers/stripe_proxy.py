"""localstripe behind a recording proxy that plays the part of Stripe it lacks for saving a card.

localstripe (1.15) knows customers, ``payment_methods.attach`` and PaymentIntents with ``customer`` and
``off_session``, but refuses ``setup_future_usage`` (400 "Unexpected setup_future_usage") and so never attaches a
method on confirmation. The proxy records the form body of every request (what our adapter sent), drops
``setup_future_usage`` before forwarding, and once such an intent is confirmed attaches its method to its customer,
as Stripe does. Everything else is localstripe's own answer.
"""

from urllib.parse import urlencode

import httpx

from tests.providers.fake_servers import FakeProvider

CONFIRMED = ("requires_capture", "succeeded")
FORWARDED_HEADERS = ("Authorization", "Idempotency-Key", "Content-Type", "Stripe-Version", "User-Agent")


class StripeProxy(FakeProvider):
    def __init__(self, upstream: str):
        super().__init__()
        self.upstream = upstream

    def intents_created(self) -> list[dict]:
        """The form fields of each PaymentIntent creation, as the adapter sent them."""
        return [request["body"] for request in self.requests
                if (request["method"], request["path"]) == ("POST", "/v1/payment_intents")]

    def route(self, method, path, query, body, headers):
        saving = "setup_future_usage" in body
        sent = {name: value for name, value in body.items() if name != "setup_future_usage"}
        kept = {name: headers[name] for name in FORWARDED_HEADERS if headers.get(name)}
        url = f"{self.upstream}{path}?{urlencode(query, doseq=True)}" if query else f"{self.upstream}{path}"
        answer = httpx.request(method, url, content=urlencode(sent), headers=kept, timeout=10)
        if saving and answer.status_code == 200 and answer.json().get("status") in CONFIRMED:
            intent = answer.json()
            httpx.post(f"{self.upstream}/v1/payment_methods/{intent['payment_method']}/attach",
                       data={"customer": intent["customer"]}, headers={"Authorization": kept["Authorization"]},
                       timeout=10).raise_for_status()
        return answer.status_code, answer.json()

