"""Flat tax-rate table by country/region. A development stand-in, not tax advice."""

from models.commerce import Address, PricedCart, TaxLine, TaxQuote, TaxRefund
from models.money import allocate, percent_of

# Basis points (1% = 100). Regions override their country.
RATES_BP: dict[str, int] = {
    "US": 0, "US-CA": 725, "US-NY": 400, "US-TX": 625, "US-WA": 650, "US-IL": 625, "US-FL": 600,
    "CA": 500, "GB": 2000, "DE": 1900, "FR": 2000, "NL": 2100, "IE": 2300, "ES": 2100, "IT": 2200,
    "SE": 2500, "AU": 1000, "NZ": 1500, "JP": 1000,
}
# Jurisdictions that tax the shipping charge too (VAT countries do).
TAXES_SHIPPING = {"GB", "DE", "FR", "NL", "IE", "ES", "IT", "SE", "AU", "NZ", "JP"}


def rate_for(address: Address) -> int:
    if address.region and f"{address.country}-{address.region}" in RATES_BP:
        return RATES_BP[f"{address.country}-{address.region}"]
    return RATES_BP.get(address.country, 0)


class LocalTaxCalculator:
    name = "local"

    async def quote(self, *, cart: PricedCart, address: Address, shipping_amount: int, document_code: str) -> TaxQuote:
        rate = 0 if cart.tax_exemption else rate_for(address)  # an exempt buyer: nothing taxed (as AvaTax)
        taxable = [line.line_total for line in cart.lines]
        # Tax the cart total once and spread it, so per-line rounding never drifts the total.
        line_taxes = allocate(percent_of(sum(taxable), rate), taxable)
        shipping_tax = percent_of(shipping_amount, rate) if address.country in TAXES_SHIPPING else 0
        lines = [TaxLine(sku=line.sku, amount=tax) for line, tax in zip(cart.lines, line_taxes)]
        return TaxQuote(
            provider=self.name, currency=cart.currency, lines=lines, shipping_tax=shipping_tax,
            total=sum(line_taxes) + shipping_tax, document_code=document_code,
        )

    async def commit(self, *, cart: PricedCart, address: Address, shipping_amount: int, document_code: str,
                     customer_code: str | None = None) -> TaxQuote:
        return await self.quote(cart=cart, address=address, shipping_amount=shipping_amount,
                                document_code=document_code)

    async def void(self, *, document_code: str) -> None:
        return None

    async def refund(self, *, document_code: str, refund_code: str, lines: list[str] | None = None,
                     percent_bp: int | None = None) -> TaxRefund:
        # No documents are kept here, so there is no tax to report back.
        return TaxRefund(provider=self.name, document_code=document_code, refund_code=refund_code)
