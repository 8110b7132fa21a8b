"""Provider adapters against real stand-ins: one localstripe process and two fake HTTP APIs per session."""

import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest

from adapters.avalara_tax import AvalaraTaxCalculator
from adapters.easypost_shipping import EasyPostShippingCarrier
from adapters.stripe_payment import StripePaymentGateway
from models.commerce import Address, PricedCart, PricedLine
from tests.helpers import eventually_blocking
from tests.providers.fake_servers import FakeAvalara, FakeEasyPost

BIN_DIR = Path(sys.executable).parent
STRIPE_TEST_KEY = "sk_test_orderflow"
AVALARA_ACCOUNT, AVALARA_LICENSE = "1100012345", "LICENSE-KEY"
EASYPOST_KEY = "EZTKorderflowtest"
WAREHOUSE = Address(name="Orderflow Warehouse", line1="417 Montgomery St", line2="Floor 5", city="San Francisco",
                    region="CA", postal_code="94104", country="US")
CUSTOMER = Address(name="Ada Lovelace", line1="1 Market St", city="San Francisco", region="CA",
                   postal_code="94105", country="US")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def localstripe_url():
    """A localstripe process for the session. It always pickles its state to /tmp/localstripe.pickle."""
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="localstripe-", suffix=".log", delete=False)
    process = subprocess.Popen([str(BIN_DIR / "localstripe"), "--port", str(port), "--from-scratch"],
                               stdout=log, stderr=subprocess.STDOUT, cwd=tempfile.gettempdir())
    url = f"http://127.0.0.1:{port}"
    try:
        def answers() -> bool:
            if process.poll() is not None:
                pytest.fail(f"localstripe exited with {process.returncode}: {Path(log.name).read_text()[-2000:]}")
            try:
                return httpx.get(f"{url}/v1/customers", auth=(STRIPE_TEST_KEY, ""), timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        eventually_blocking(answers, 30, interval=0.1, what="localstripe to answer")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        Path(log.name).unlink(missing_ok=True)


@pytest.fixture(scope="session")
def stripe_gateway(localstripe_url) -> StripePaymentGateway:
    return StripePaymentGateway(STRIPE_TEST_KEY, localstripe_url)


@pytest.fixture(scope="session")
def _avalara_server():
    server = FakeAvalara(AVALARA_ACCOUNT, AVALARA_LICENSE)
    url = server.start()
    yield server, url
    server.stop()


@pytest.fixture
def fake_avalara(_avalara_server) -> FakeAvalara:
    server, _ = _avalara_server
    server.reset()
    return server


@pytest.fixture
def avalara_url(_avalara_server) -> str:
    return _avalara_server[1]


@pytest.fixture
def avalara(fake_avalara, avalara_url) -> AvalaraTaxCalculator:
    return AvalaraTaxCalculator(AVALARA_ACCOUNT, AVALARA_LICENSE, "ORDERFLOW", avalara_url, ship_from=WAREHOUSE,
                                timeout=2.0)


@pytest.fixture(scope="session")
def _easypost_server():
    server = FakeEasyPost(EASYPOST_KEY)
    url = server.start()
    yield server, f"{url}/v2"
    server.stop()


@pytest.fixture
def fake_easypost(_easypost_server) -> FakeEasyPost:
    server, _ = _easypost_server
    server.reset()
    return server


@pytest.fixture
def easypost_url(_easypost_server) -> str:
    return _easypost_server[1]


@pytest.fixture
def easypost(fake_easypost, easypost_url) -> EasyPostShippingCarrier:
    return EasyPostShippingCarrier(EASYPOST_KEY, easypost_url, from_address=WAREHOUSE, timeout=2.0)


def cart(*lines: tuple[str, int, int, int], currency: str = "USD") -> PricedCart:
    """A priced cart from (sku, quantity, unit price, grams each) tuples."""
    priced = [PricedLine(sku=sku, title=f"Item {sku}", quantity=qty, unit_price=price, line_subtotal=qty * price,
                         weight_grams=grams) for sku, qty, price, grams in lines]
    return PricedCart(cart_id="cart_test", currency=currency, lines=priced,
                      subtotal=sum(line.line_subtotal for line in priced))


@pytest.fixture
def clean_provider_env(monkeypatch):
    """No provider settings from the developer's shell leak into Settings()."""
    for name in ("PAYMENT_BACKEND", "TAX_BACKEND", "SHIPPING_BACKEND", "STRIPE_API_KEY", "STRIPE_API_BASE",
                 "STRIPE_WEBHOOK_SECRET", "AVALARA_ACCOUNT_ID", "AVALARA_LICENSE_KEY", "AVALARA_COMPANY_CODE",
                 "AVALARA_ENVIRONMENT", "EASYPOST_API_KEY", "EASYPOST_API_BASE", "ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)
    for field in ("NAME", "LINE1", "LINE2", "CITY", "REGION", "POSTAL_CODE", "COUNTRY"):
        monkeypatch.delenv(f"SHIP_FROM_{field}", raising=False)
