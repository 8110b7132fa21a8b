"""A storefront's walk through the API: browse → cart → quote → checkout → order.

Against `make dev` (in another terminal), with a storefront key:

    orderflow keys create --role storefront --name example     # prints the secret once
    python examples/storefront.py --key <secret>               # or ORDERFLOW_API_KEY=<secret>

It acts for a guest as a storefront does: it keeps the cart's `X-Cart-Token`, shows the quote before
asking for money, checks out held to the quote (`quote_id`: a changed total fails `price_changed`
instead of charging it), follows the checkout to its end (a 3-D Secure card waits for the challenge:
`next_action`) and reads the order with the guest's `X-Order-Token`.
"""

import argparse
import asyncio
import os
import sys
import uuid

import httpx

ADDRESS = {"name": "Ada Lovelace", "line1": "1 Main St", "city": "San Francisco", "region": "CA",
           "postal_code": "94105", "country": "US"}


class StorefrontError(RuntimeError):
    """The API answered an error: its code and message."""


def _body(response: httpx.Response, expected: int) -> dict:
    if response.status_code != expected:
        error = response.json().get("error", {}) if response.content else {}
        raise StorefrontError(f"{response.request.method} {response.request.url.path}: {response.status_code} "
                              f"{error.get('code')}: {error.get('message')}")
    return response.json()


async def browse(api: httpx.AsyncClient) -> str:
    """The first active variant with a price in USD: what a shopper picks from the catalog page."""
    page = _body(await api.get("/products", params={"status": "active"}), 200)
    for product in page["items"]:
        for variant in product["variants"]:
            if variant["status"] == "active" and any(p["currency"] == "USD" for p in variant["prices"]):
                return variant["sku"]
    raise StorefrontError("no active product with a USD price: run `orderflow seed`")


async def shop(api: httpx.AsyncClient, *, email: str = "ada@example.com", payment_method: str = "pm_card_visa",
               quantity: int = 2, poll_seconds: float = 0.25, give_up_seconds: float = 120,
               say=print) -> dict:
    """One guest purchase; returns {"quote", "checkout", "order"}. ``api`` sends the storefront key."""
    sku = await browse(api)
    created = await api.post("/carts", json={"currency": "USD", "email": email})
    cart = _body(created, 201)
    proof = {"X-Cart-Token": created.headers["X-Cart-Token"]}  # the guest's proof of this cart: keep it
    _body(await api.post(f"/carts/{cart['id']}/lines", json={"sku": sku, "quantity": quantity}, headers=proof), 201)
    say(f"cart {cart['id']}: {quantity} × {sku}")

    quote = _body(await api.post(f"/carts/{cart['id']}/quote", headers=proof,
                                 json={"shipping_address": ADDRESS, "email": email}), 200)
    say(f"quote {quote['quote_id']}: total {quote['total']} {quote['currency']} "
        f"(shipping {quote['shipping_amount']}, tax {quote['tax_total']}), valid until {quote['expires_at']}")

    started = _body(await api.post("/checkouts", headers={**proof, "Idempotency-Key": str(uuid.uuid4())}, json={
        "cart_id": cart["id"], "email": email, "shipping_address": ADDRESS, "payment_method": payment_method,
        "quote_id": quote["quote_id"]}), 202)
    checkout = await follow(api, started["checkout_id"], proof, poll_seconds, give_up_seconds, say)
    if checkout["status"] != "completed":
        raise StorefrontError(f"checkout {checkout['checkout_id']} failed: {checkout['error']}")
    order = _body(await api.get(f"/orders/{checkout['order_id']}",
                                headers={"X-Order-Token": checkout["order_token"]}), 200)
    say(f"order {order['id']}: {order['status']}, total {order['totals']['total']} {order['currency']}")
    return {"quote": quote, "checkout": checkout, "order": order}


async def follow(api: httpx.AsyncClient, checkout_id: str, proof: dict, poll_seconds: float, give_up_seconds: float,
                 say=print) -> dict:
    """Poll the checkout until it ends; a 3-D Secure challenge is shown once (a real storefront hands its
    client_secret to Stripe.js; the webhook then moves the checkout on)."""
    loop = asyncio.get_running_loop()
    deadline, shown = loop.time() + give_up_seconds, False
    while True:
        checkout = _body(await api.get(f"/checkouts/{checkout_id}", headers=proof), 200)
        if checkout["status"] != "pending":
            return checkout
        if checkout.get("next_action") and not shown:
            say(f"checkout {checkout_id} waits for 3-D Secure: {checkout['next_action']}")
            shown = True
        if loop.time() > deadline:
            raise StorefrontError(f"checkout {checkout_id} still pending after {give_up_seconds:.0f}s "
                                  f"(step {checkout.get('step')})")
        await asyncio.sleep(poll_seconds)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default=os.environ.get("ORDERFLOW_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--key", default=os.environ.get("ORDERFLOW_API_KEY"), help="a storefront API key")
    parser.add_argument("--card", default="pm_card_visa", help="e.g. pm_card_authenticationRequired (3-D Secure)")
    return parser.parse_args()


async def _main() -> int:
    args = _arguments()
    if not args.key:
        print("give a storefront key: --key or ORDERFLOW_API_KEY", file=sys.stderr)
        return 2
    async with httpx.AsyncClient(base_url=args.base_url, headers={"Authorization": f"Bearer {args.key}"},
                                 timeout=30) as api:
        try:
            await shop(api, payment_method=args.card)
        except StorefrontError as error:
            print(error, file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(_main()))
