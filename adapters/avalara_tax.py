"""Avalara AvaTax: SalesOrder quotes, committed SalesInvoices, voids and return invoices.

Amounts leave as decimals in major units (from integer minor units, by the currency's
exponent) and come back through ``Decimal`` parsing, so no float ever rounds money.
The SDK is synchronous (requests), so every call runs in a worker thread.
"""

import asyncio
import logging
import socket
from datetime import UTC, datetime
from decimal import Decimal

import avalara
import requests

from adapters.ports import ProviderUnavailable
from models.commerce import Address, PricedCart, TaxLine, TaxQuote, TaxRefund
from models.errors import DomainError
from models.money import from_major, to_major

APP_NAME = "orderflow"
APP_VERSION = "0.1.0"
PRODUCT_TAX_CODE = "P0000000"  # tangible personal property
SHIPPING_TAX_CODE = "FR020100"  # shipping only, common carrier, FOB destination
SHIPPING_LINE = "shipping"
TRANSIENT_STATUSES = {401, 403, 408, 429}  # credentials/permissions are an ops fix: retry until then


class AvalaraTaxCalculator:
    name = "avalara"

    def __init__(self, account: str, license_key: str, company_code: str, environment: str = "sandbox", *,
                 ship_from: Address | None = None, timeout: float = 20.0):
        self.company_code = company_code
        self.ship_from = ship_from
        self._client = avalara.AvataxClient(
            APP_NAME, APP_VERSION, socket.gethostname(), environment=environment, timeout_limit=timeout,
            logger=logging.getLogger("orderflow.avalara"),
        ).add_credentials(account, license_key)

    async def quote(self, *, cart: PricedCart, address: Address, shipping_amount: int, document_code: str) -> TaxQuote:
        model = self._transaction(cart, address, shipping_amount, document_code, "SalesOrder", None)
        return _quote(await self._send("create_transaction", model), document_code)

    async def commit(self, *, cart: PricedCart, address: Address, shipping_amount: int, document_code: str,
                     customer_code: str | None = None) -> TaxQuote:
        model = self._transaction(cart, address, shipping_amount, document_code, "SalesInvoice", customer_code)
        model["commit"] = True
        # Create-or-adjust: a retried commit adjusts the same document instead of failing as a duplicate.
        body = {"createTransactionModel": model, "adjustmentReason": "Other",
                "adjustmentDescription": "recalculated on retry"}
        return _quote(await self._send("create_or_adjust_transaction", body), document_code)

    async def void(self, *, document_code: str) -> None:
        try:
            await self._send("void_transaction", self.company_code, document_code, {"code": "DocVoided"},
                             {"documentType": "SalesInvoice"})
        except DomainError as error:
            # Quotes (SalesOrder) are never stored, so there may be nothing to void.
            if error.details.get("http_status") != 404:
                raise

    async def refund(self, *, document_code: str, refund_code: str, lines: list[str] | None = None,
                     percent_bp: int | None = None) -> TaxRefund:
        model = {"refundTransactionCode": refund_code, "refundDate": _today(), "referenceCode": document_code,
                 "refundType": "Full"}
        if lines:
            model |= {"refundType": "Partial", "refundLines": list(lines)}
        elif percent_bp is not None:
            model |= {"refundType": "Percentage", "refundPercentage": _number(Decimal(percent_bp) / 100)}
        doc = await self._send("refund_transaction", self.company_code, document_code, model)
        quote = _quote(doc, refund_code)
        return TaxRefund(provider=self.name, document_code=document_code, refund_code=refund_code,
                         currency=quote.currency, lines=[TaxLine(sku=t.sku, amount=-t.amount) for t in quote.lines],
                         shipping_tax=-quote.shipping_tax, total=-quote.total)

    def _transaction(self, cart, address, shipping_amount, document_code, doc_type, customer_code) -> dict:
        lines = [
            {"number": number, "itemCode": line.sku, "description": line.title[:255], "quantity": line.quantity,
             "amount": _number(to_major(line.line_total, cart.currency)), "taxCode": line.tax_code or PRODUCT_TAX_CODE}
            for number, line in zip(line_numbers([line.sku for line in cart.lines]), cart.lines)
        ]
        if shipping_amount:
            lines.append({"number": SHIPPING_LINE, "itemCode": "SHIPPING", "quantity": 1,
                          "amount": _number(to_major(shipping_amount, cart.currency)), "taxCode": SHIPPING_TAX_CODE})
        if self.ship_from is None:
            addresses = {"singleLocation": _address(address)}
        else:
            addresses = {"shipFrom": _address(self.ship_from), "shipTo": _address(address)}
        model = {"type": doc_type, "code": document_code, "companyCode": self.company_code, "date": _today(),
                 "customerCode": customer_code or cart.cart_id, "currencyCode": cart.currency,
                 "addresses": addresses, "lines": lines}
        exemption = cart.tax_exemption
        if exemption:  # AvaTax exempts the document for these (its exemption rules decide what is taxed)
            model |= {key: value for key, value in (("exemptionNo", exemption.exemption_number),
                                                    ("entityUseCode", exemption.entity_use_code)) if value}
        return model

    async def _send(self, method: str, *args) -> dict:
        call = getattr(self._client, method)
        try:
            response = await asyncio.to_thread(call, *args)
        except requests.RequestException as error:  # timeouts, refused connections
            raise ProviderUnavailable(f"avalara {method}: {type(error).__name__}: {error}") from error
        if response.status_code >= 500 or response.status_code in TRANSIENT_STATUSES:
            raise ProviderUnavailable(f"avalara {method}: HTTP {response.status_code}")
        try:
            body = response.json(parse_float=Decimal)
        except ValueError as error:
            raise ProviderUnavailable(f"avalara {method}: unreadable answer (HTTP {response.status_code})") from error
        if response.status_code >= 400:
            error = body.get("error") or {}
            raise DomainError(error.get("message") or f"avalara refused {method}", code="tax_request_invalid",
                              details={"provider_code": error.get("code"), "http_status": response.status_code,
                                       "target": error.get("target")})
        return body


def line_numbers(skus: list[str]) -> list[str]:
    """Line numbers are the skus (so refunds can name them), made unique if a sku repeats."""
    seen: dict[str, int] = {}
    numbers = []
    for sku in skus:
        seen[sku] = seen.get(sku, 0) + 1
        numbers.append(sku if seen[sku] == 1 else f"{sku}#{seen[sku]}")
    return numbers


def _quote(doc: dict, document_code: str) -> TaxQuote:
    currency = doc["currencyCode"]
    lines, shipping_tax = [], 0
    for line in doc.get("lines") or []:
        tax = from_major(line.get("tax", 0), currency)
        if line.get("lineNumber") == SHIPPING_LINE:
            shipping_tax = tax
        else:
            lines.append(TaxLine(sku=line["itemCode"], amount=tax))
    return TaxQuote(provider=AvalaraTaxCalculator.name, currency=currency, lines=lines, shipping_tax=shipping_tax,
                    total=from_major(doc.get("totalTax", 0), currency), document_code=doc.get("code") or document_code)


def _address(address: Address) -> dict:
    return {"line1": address.line1, "line2": address.line2, "city": address.city, "region": address.region,
            "postalCode": address.postal_code, "country": address.country}


def _number(value: Decimal):
    """A JSON number for the SDK's stdlib encoder, which has no Decimal support.

    The float only carries the digits into ``json.dumps``: its shortest repr must spell the
    same decimal, or we refuse (never the case for realistic amounts, < 15 digits).
    """
    number = float(value)
    if Decimal(repr(number)) != value:
        raise ValueError(f"{value} cannot be sent exactly as a JSON number")
    return number


def _today() -> str:
    return datetime.now(UTC).date().isoformat()
