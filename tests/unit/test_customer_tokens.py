"""Customer, guest-order and cart tokens (models/customer_tokens.py) and the secret production needs."""

from datetime import UTC, datetime, timedelta

import pytest

from config import DEV_CUSTOMER_TOKEN_SECRET, Settings
from models.customer_tokens import CustomerTokens
from models.customers import hash_password, password_matches
from tests.unit.test_unsubscribe import PRODUCTION

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
TOKENS = CustomerTokens("s" * 40, ttl_seconds=3600)


def test_a_customer_token_names_its_customer_until_it_expires():
    token = TOKENS.customer_token("cus_a", NOW)
    assert TOKENS.customer_of(token, NOW + timedelta(minutes=59)) == "cus_a"
    assert TOKENS.customer_of(token, NOW + timedelta(hours=1)) is None


@pytest.mark.parametrize("tamper", [
    lambda t: t.replace("cus_a", "cus_b"),  # another customer under the same signature
    lambda t: ".".join([*t.split(".")[:2], str(int(t.split(".")[2]) + 86400), t.split(".")[3]]),  # a later expiry
    lambda t: t[:-1] + ("0" if t[-1] != "0" else "1"),
    lambda t: CustomerTokens("x" * 40).customer_token("cus_a", NOW),  # another secret
    lambda t: "ct1.cus_a.notanumber." + t.split(".")[3],
    lambda t: "é" * 10,
])
def test_a_tampered_customer_token_names_nobody(tamper):
    assert TOKENS.customer_of(tamper(TOKENS.customer_token("cus_a", NOW)), NOW) is None


def test_order_and_cart_tokens_prove_only_their_own_id():
    assert TOKENS.proves_order("ord_a", TOKENS.order_token("ord_a"))
    assert not TOKENS.proves_order("ord_b", TOKENS.order_token("ord_a"))
    assert not TOKENS.proves_cart("ord_a", TOKENS.order_token("ord_a"))  # an order token opens no cart of that id
    assert TOKENS.proves_cart("cart_a", TOKENS.cart_token("cart_a"))
    assert not TOKENS.proves_cart("cart_a", "ü")


def test_passwords_are_argon2_and_checked():
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert password_matches(stored, "correct horse battery")
    assert not password_matches(stored, "wrong horse battery")
    assert not password_matches(None, "correct horse battery")  # no account: still a plain no


@pytest.mark.parametrize("secret", [None, "short", DEV_CUSTOMER_TOKEN_SECRET])
def test_production_refuses_a_missing_short_or_development_token_secret(secret):
    settings = {**PRODUCTION, "unsubscribe_secret": "0c4e8a2f6b1d9e3a7c5f0b8d2e6a4c1f", "public_base_url": "https://shop.example",
                "customer_token_secret": secret}
    with pytest.raises(ValueError, match="CUSTOMER_TOKEN_SECRET"):
        Settings(**settings)


def test_development_signs_with_the_development_secret():
    tokens = Settings(_env_file=None, environment="test").customer_tokens
    assert tokens.order_token("ord_a") == CustomerTokens(DEV_CUSTOMER_TOKEN_SECRET).order_token("ord_a")
