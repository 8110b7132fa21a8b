"""The one place adapters are chosen and wired (cosmicpython's bootstrap)."""

from dataclasses import dataclass

import structlog

from adapters.local.email import OutboxEmailSender
from adapters.local.payment import LocalPaymentGateway
from adapters.local.shipping import LocalShippingCarrier
from adapters.local.tax import LocalTaxCalculator
from adapters.ports import EmailSender, PaymentGateway, ShippingCarrier, TaxCalculator
from config import Settings
from db.engine import make_engine
from models.commerce import Address

log = structlog.get_logger("orderflow.adapters")


@dataclass
class Adapters:
    payment: PaymentGateway
    tax: TaxCalculator
    shipping: ShippingCarrier
    email: EmailSender


def build_adapters(settings: Settings) -> Adapters:
    """Real providers where Settings resolved them (credentials present), local stand-ins elsewhere."""
    if "local" in (settings.payment_backend, settings.tax_backend, settings.shipping_backend):
        log.warning(
            "using local provider stand-ins (development only)",
            payment=settings.payment_backend, tax=settings.tax_backend, shipping=settings.shipping_backend,
        )
    adapters = Adapters(payment=_payment(settings), tax=_tax(settings), shipping=_shipping(settings),
                        email=_email(settings))
    log.info("provider backends", payment=adapters.payment.name, tax=adapters.tax.name,
             shipping=adapters.shipping.name, email=adapters.email.name)
    return adapters


def _payment(settings: Settings) -> PaymentGateway:
    multicapture = settings.split_capture_policy == "multicapture"
    if settings.payment_backend != "stripe":
        # The simulator keeps its intents in PostgreSQL when there is one, so they survive a worker restart.
        engine = make_engine(settings.database_url, pool_size=5) if settings.database_url else None
        return LocalPaymentGateway(settings.local_payment_delay_ms, engine=engine, request_multicapture=multicapture,
                                   multicapture_available=settings.local_payment_multicapture)
    from adapters.stripe_payment import StripePaymentGateway

    return StripePaymentGateway(settings.stripe_api_key.get_secret_value(), settings.stripe_api_base,
                                request_multicapture=multicapture)


def _tax(settings: Settings) -> TaxCalculator:
    if settings.tax_backend != "avalara":
        return LocalTaxCalculator()
    from adapters.avalara_tax import AvalaraTaxCalculator

    return AvalaraTaxCalculator(settings.avalara_account_id.strip(),
                                settings.avalara_license_key.get_secret_value().strip(),
                                settings.avalara_company_code, settings.avalara_environment,
                                ship_from=ship_from(settings))


def _shipping(settings: Settings) -> ShippingCarrier:
    if settings.shipping_backend != "easypost":
        return LocalShippingCarrier()
    from adapters.easypost_shipping import EasyPostShippingCarrier

    return EasyPostShippingCarrier(settings.easypost_api_key.get_secret_value(), settings.easypost_api_base,
                                   from_address=ship_from(settings))


def _email(settings: Settings) -> EmailSender:
    if not settings.smtp_host:
        log.warning("customer email goes to the local outbox, not to customers", outbox=str(settings.email_outbox))
        return OutboxEmailSender(settings.email_outbox, settings.email_sender)
    from adapters.smtp_email import SmtpEmailSender

    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    return SmtpEmailSender(settings.smtp_host, settings.smtp_port, settings.smtp_username, password,
                           settings.smtp_use_tls, settings.email_sender)


def ship_from(settings: Settings) -> Address | None:
    if not settings.ship_from_complete:
        return None
    return Address(name=settings.ship_from_name, line1=settings.ship_from_line1, line2=settings.ship_from_line2,
                   city=settings.ship_from_city, region=settings.ship_from_region,
                   postal_code=settings.ship_from_postal_code, country=settings.ship_from_country)
