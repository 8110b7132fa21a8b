"""STOREFRONT_URL: where customer email links point, signed with CUSTOMER_TOKEN_SECRET (the worker's copy)."""

from config import Settings
from models.customer_tokens import CustomerTokens
from tests.unit.test_production_settings import RANDOM_SECRET, clean_env, production  # noqa: F401 - a fixture


def test_links_point_at_the_storefront_signed_with_the_customer_token_secret():
    links = production(storefront_url="https://www.shop.example").storefront_links
    tokens = CustomerTokens(RANDOM_SECRET[::-1])
    assert links.order_url("ord_1") == f"https://www.shop.example/orders/ord_1?order_token={tokens.order_token('ord_1')}"
    assert links.cart_url("cart_1") == f"https://www.shop.example/carts/cart_1?cart_token={tokens.cart_token('cart_1')}"


def test_production_without_a_storefront_sends_no_links_rather_than_links_to_the_api():
    assert production().storefront_links is None


def test_development_links_go_to_the_local_api():
    links = Settings(_env_file=None, environment="development").storefront_links
    assert links.order_url("ord_1").startswith("http://127.0.0.1:8000/orders/ord_1?order_token=")
