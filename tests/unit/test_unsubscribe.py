"""Signed unsubscribe links, their MIME headers and their settings, without I/O."""

import hashlib
import hmac
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.generator import BytesGenerator
from io import BytesIO
from urllib.parse import parse_qs, urlsplit

import pytest

from config import DEV_UNSUBSCRIBE_SECRET, Settings
from models.notifications import EmailMessage, to_mime
from models.unsubscribe import UnsubscribeLinks, normalise_email

LINKS = UnsubscribeLinks("unit-test-secret", "https://shop.example/")


def test_token_is_hmac_sha256_of_the_normalised_email():
    expected = hmac.new(b"unit-test-secret", b"ada@example.com", hashlib.sha256).hexdigest()
    assert LINKS.token("  Ada@Example.COM ") == expected
    assert LINKS.verify("ada@example.com", expected)
    assert LINKS.verify("ADA@example.com", expected)  # one address, however it is spelled


def test_tampered_token_is_refused():
    token = LINKS.token("ada@example.com")
    tampered = token[:-1] + ("0" if token[-1] != "0" else "1")
    assert not LINKS.verify("ada@example.com", tampered)
    assert not LINKS.verify("ada@example.com", token[:-1])
    assert not LINKS.verify("ada@example.com", "")
    assert not LINKS.verify("ada@example.com", "é" * 64)  # non-ASCII: wrong, not a TypeError


def test_token_of_another_email_or_secret_is_refused():
    token = LINKS.token("ada@example.com")
    assert not LINKS.verify("bob@example.com", token)
    assert not UnsubscribeLinks("another-secret", "https://shop.example").verify("ada@example.com", token)


def test_url_points_at_the_public_base_with_email_and_token():
    url = urlsplit(LINKS.url("Ada+shop@Example.com"))
    assert (url.scheme, url.netloc, url.path) == ("https", "shop.example", "/unsubscribe")
    query = parse_qs(url.query)
    assert query["email"] == ["ada+shop@example.com"]
    assert LINKS.verify(query["email"][0], query["token"][0])


def test_list_unsubscribe_headers_survive_mime_unfolded_and_unencoded():
    email = "a.rather.long.customer.address+with-a-tag@subdomain.of.a.long-domain-name.example"
    message = EmailMessage(to=email, subject="s", text="t", idempotency_key="k", headers=LINKS.headers(email))
    mime = to_mime(message, sender="shop@example.com", date=datetime(2026, 1, 1, tzinfo=UTC))
    as_smtplib_sends_it = BytesIO()
    BytesGenerator(as_smtplib_sends_it).flatten(mime, linesep="\r\n")  # what SmtpEmailSender puts on the wire
    for raw in (mime.as_bytes(policy=policy.SMTP), as_smtplib_sends_it.getvalue()):  # ... and the outbox file
        assert f"List-Unsubscribe: <{LINKS.url(email)}>\r\n".encode() in raw  # one line, no RFC 2047 words
        assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in raw
        assert message_from_bytes(raw, policy=policy.default)["List-Unsubscribe"] == f"<{LINKS.url(email)}>"


def test_verbatim_headers_refuse_line_breaks():
    message = EmailMessage(to="a@b.c", subject="s", text="t", idempotency_key="k",
                           headers={"List-Unsubscribe": "<https://x>\r\nBcc: victim@example.com"})
    with pytest.raises(ValueError, match="printable ASCII"):
        to_mime(message, sender="shop@example.com", date=datetime(2026, 1, 1, tzinfo=UTC))


def test_normalise_email():
    assert normalise_email("  Ada@Example.COM\t") == "ada@example.com"


# Everything else production needs, so that only the unsubscribe settings vary.
RANDOM_SECRET = "9f86d081884c7d659a2feaa0c55ad015"
PRODUCTION = {"_env_file": None, "environment": "production", "database_url": "postgresql://db/x",
              "temporal_address": "temporal:7233", "smtp_host": "smtp.example", "stripe_api_key": "sk_live_123",
              "stripe_webhook_secret": "whsec_abc", "easypost_webhook_secret": "easypost-hook-secret",
              "avalara_account_id": "123", "avalara_license_key": "key", "easypost_api_key": "ek",
              "ship_from_name": "Shop", "ship_from_line1": "1 Main St", "ship_from_city": "SF",
              "ship_from_postal_code": "94105", "ship_from_country": "US", "customer_token_secret": "7f3a9c1e5b2d8f4a6c0e9b3d7a1f5c2e"}


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("UNSUBSCRIBE_SECRET", "PUBLIC_BASE_URL", "API_HOST", "API_PORT"):
        monkeypatch.delenv(name, raising=False)


def test_development_falls_back_to_the_dev_secret_and_the_api_address(clean_env):
    settings = Settings(_env_file=None, environment="test")
    assert settings.unsubscribe_key == DEV_UNSUBSCRIBE_SECRET
    assert settings.public_url == "http://127.0.0.1:8000"
    assert Settings(_env_file=None, public_base_url="https://shop.example/api/").public_url == \
        "https://shop.example/api"


@pytest.mark.parametrize("overrides, message", [
    ({"public_base_url": "https://shop.example"}, "production needs UNSUBSCRIBE_SECRET"),
    ({"public_base_url": "https://shop.example", "unsubscribe_secret": "too-short"}, "UNSUBSCRIBE_SECRET"),
    ({"public_base_url": "https://shop.example", "unsubscribe_secret": DEV_UNSUBSCRIBE_SECRET}, "UNSUBSCRIBE_SECRET"),
    ({"unsubscribe_secret": RANDOM_SECRET}, "production needs PUBLIC_BASE_URL"),
    ({"unsubscribe_secret": RANDOM_SECRET, "public_base_url": "http://shop.example"}, "PUBLIC_BASE_URL"),
])
def test_production_fails_fast_without_unsubscribe_settings(clean_env, overrides, message):
    with pytest.raises(ValueError, match=message):
        Settings(**PRODUCTION, **overrides)


def test_production_starts_with_a_secret_and_an_https_base(clean_env):
    settings = Settings(**PRODUCTION, unsubscribe_secret=RANDOM_SECRET, public_base_url="https://shop.example")
    assert settings.unsubscribe_key == RANDOM_SECRET and settings.public_url == "https://shop.example"


def test_public_base_url_must_be_http(clean_env):
    with pytest.raises(ValueError, match="PUBLIC_BASE_URL must be an http"):
        Settings(_env_file=None, public_base_url="shop.example")
