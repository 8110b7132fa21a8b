"""TRUSTED_PROXIES decides whose X-Forwarded-For is believed: a typo must stop start-up, not trust nobody."""

import pytest
from pydantic import ValidationError

from config import Settings


def settings(**values) -> Settings:
    return Settings(_env_file=None, environment="test", **values)


@pytest.mark.parametrize("value", ["127.0.0.1,::1", "10.0.0.0/8, 192.168.1.7", "*", "fd00::/8"])
def test_addresses_networks_and_star_are_accepted(value):
    assert settings(trusted_proxies=value).trusted_proxies == value


@pytest.mark.parametrize("value", ["10.0.0.0/33", "proxy.internal", "127.0.0.1;10.0.0.1"])
def test_anything_else_fails_fast_naming_the_entry(value):
    with pytest.raises(ValidationError, match="TRUSTED_PROXIES: .* is not an IP address or CIDR network"):
        settings(trusted_proxies=value)
