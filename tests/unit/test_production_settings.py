"""Production refuses settings that look fine but open a hole: each refusal names the variable."""

import pytest
from pydantic import ValidationError

from config import DEV_UNSUBSCRIBE_SECRET, Settings, weak_secret_reason

RANDOM_SECRET = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
PRODUCTION = {"_env_file": None, "environment": "production", "database_url": "postgresql://db/x",
              "temporal_address": "temporal:7233", "smtp_host": "smtp.example", "stripe_api_key": "sk_live_123",
              "stripe_webhook_secret": "whsec_abc", "avalara_account_id": "123", "avalara_license_key": "key",
              "easypost_api_key": "EZAKlive123", "easypost_webhook_secret": "easypost-hook-secret",
              "ship_from_name": "Shop", "ship_from_line1": "1 Main St", "ship_from_city": "SF",
              "ship_from_postal_code": "94105", "ship_from_country": "US",
              "unsubscribe_secret": RANDOM_SECRET, "public_base_url": "https://shop.example",
              "customer_token_secret": RANDOM_SECRET[::-1],
              "trusted_proxies": "10.1.0.0/16,fd00:1:2::/48"}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("UNSUBSCRIBE_SECRET", "TRUSTED_PROXIES", "STRIPE_WEBHOOK_SECRET", "EASYPOST_WEBHOOK_SECRET",
                 "STRIPE_API_KEY", "EASYPOST_API_KEY", "AVALARA_ENVIRONMENT", "ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)


def production(**overrides) -> Settings:
    return Settings(**{**PRODUCTION, **overrides})


def test_a_hardened_production_setup_starts():
    assert production().environment == "production"


@pytest.mark.parametrize("overrides, variable", [
    ({"trusted_proxies": "*"}, "TRUSTED_PROXIES=\\*"),
    ({"trusted_proxies": "10.1.2.3, 10.0.0.0/8"}, "TRUSTED_PROXIES entry 10.0.0.0/8 is wider than /16"),
    ({"trusted_proxies": "2001:db8::/32"}, "TRUSTED_PROXIES entry 2001:db8::/32 is wider than /48"),
    ({"stripe_webhook_secret": None}, "STRIPE_WEBHOOK_SECRET is required"),
    ({"easypost_webhook_secret": ""}, "EASYPOST_WEBHOOK_SECRET is required"),
    ({"stripe_api_key": "sk_test_123"}, "STRIPE_API_KEY is a test-mode key"),
    ({"stripe_api_key": "rk_test_123"}, "STRIPE_API_KEY is a test-mode key"),
    ({"easypost_api_key": "EZTKabc123"}, "EASYPOST_API_KEY is a test key"),
    ({"unsubscribe_secret": "s" * 40}, "UNSUBSCRIBE_SECRET.*only 1 distinct"),
    ({"unsubscribe_secret": "0123456789" * 4}, "UNSUBSCRIBE_SECRET.*repeats a shorter pattern"),
    ({"unsubscribe_secret": RANDOM_SECRET[:31]}, "UNSUBSCRIBE_SECRET.*has 31 characters"),
])
def test_production_refuses_naming_the_variable(overrides, variable):
    with pytest.raises(ValidationError, match=variable):
        production(**overrides)


def test_a_wider_trusted_network_is_allowed_only_by_lowering_the_limit():
    assert production(trusted_proxies="10.0.0.0/8", trusted_proxies_min_prefix_v4=8).trusted_proxies == "10.0.0.0/8"


def test_outside_production_the_same_proxies_and_test_keys_are_accepted():
    settings = Settings(_env_file=None, environment="development", trusted_proxies="*", stripe_api_key="sk_test_1")
    assert settings.payment_backend == "stripe" and settings.trusted_proxies == "*"


@pytest.mark.parametrize("live", [{"stripe_api_key": "sk_live_1"}, {"stripe_api_key": "rk_live_1"},
                                  {"easypost_api_key": "EZAKlive", "ship_from_name": "S", "ship_from_line1": "1",
                                   "ship_from_city": "SF", "ship_from_postal_code": "94105", "ship_from_country": "US"},
                                  {"avalara_account_id": "1", "avalara_license_key": "k",
                                   "avalara_environment": "production"}])
@pytest.mark.parametrize("environment", ["development", "test"])
def test_live_providers_refuse_the_development_unsubscribe_secret_in_any_environment(live, environment):
    with pytest.raises(ValidationError, match="UNSUBSCRIBE_SECRET: live providers are configured"):
        Settings(_env_file=None, environment=environment, **live)
    with pytest.raises(ValidationError, match="UNSUBSCRIBE_SECRET: live providers are configured"):
        Settings(_env_file=None, environment=environment, unsubscribe_secret=DEV_UNSUBSCRIBE_SECRET, **live)
    own = Settings(_env_file=None, environment=environment, unsubscribe_secret=RANDOM_SECRET, **live)
    assert own.unsubscribe_key == RANDOM_SECRET


def test_test_keys_keep_the_development_secret_outside_production():
    assert Settings(_env_file=None, environment="development", stripe_api_key="sk_test_1",
                    easypost_api_key="EZTK1", ship_from_name="S", ship_from_line1="1", ship_from_city="SF",
                    ship_from_postal_code="94105", ship_from_country="US").unsubscribe_key == DEV_UNSUBSCRIBE_SECRET


@pytest.mark.parametrize("secret", [RANDOM_SECRET[:32], "Zx8pQ2rT6vW9yB3nM5kL7jH1gF4dS0aE"])
def test_random_secrets_pass_the_entropy_rule(secret):
    assert weak_secret_reason(secret) is None


def test_sign_in_links_point_at_the_storefront_and_production_never_mails_the_development_page():
    assert not production().sign_in_links_enabled  # the API answers 503 sign_in_links_not_configured
    shop = production(storefront_sign_in_url="https://shop.example/account/sign-in")
    assert shop.sign_in_links_enabled and shop.sign_in_page == "https://shop.example/account/sign-in"
    with pytest.raises(ValidationError, match="STOREFRONT_SIGN_IN_URL must be an http"):
        production(storefront_sign_in_url="shop.example/sign-in")
