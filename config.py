"""All configuration, from the environment (prefix-free names, as ops expect)."""

import ipaddress
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, NonNegativeFloat, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from models.customer_tokens import CustomerTokens, StorefrontLinks
from models.unsubscribe import UnsubscribeLinks

PROJECT_ROOT = Path(__file__).resolve().parent


class SecretFilesSource(PydanticBaseSettingsSource):
    """``NAME_FILE=/run/secrets/x`` sets NAME to that file's content (trailing newline dropped): how Docker
    and Kubernetes hand secrets over without putting them in the environment, where ``docker inspect``,
    crash reports and child processes would see them. Setting both NAME and NAME_FILE is refused."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads every field at once

    def __call__(self) -> dict[str, Any]:
        values = {}
        for name in self.settings_cls.model_fields:
            path = os.environ.get(f"{name.upper()}_FILE")
            if not path:
                continue
            if os.environ.get(name.upper()):
                raise ValueError(f"set {name.upper()} or {name.upper()}_FILE, not both")
            try:
                values[name] = Path(path).read_text().strip()
            except OSError as error:
                raise ValueError(f"{name.upper()}_FILE: cannot read {path} ({error.strerror})") from None
        return values


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, SecretFilesSource(settings_cls), dotenv_settings, file_secret_settings

    environment: Literal["development", "test", "production"] = "development"
    # Empty DATABASE_URL means: start the embedded PostgreSQL under STATE_DIR.
    database_url: str = ""
    state_dir: Path = PROJECT_ROOT / ".orderflow"

    temporal_address: str = ""  # empty: start the Temporal dev server (make dev only)
    temporal_namespace: str = "default"
    task_queue: str = "orderflow"

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # Only these peers may say who the client is (X-Forwarded-For / X-Forwarded-Proto): the load
    # balancer or reverse proxy in front of the API. Anyone else could forge the header and dodge
    # the fraud IP velocity checks. Comma-separated IPs or CIDR networks; "*" trusts every peer.
    trusted_proxies: str = "127.0.0.1,::1"
    # Production refuses "*" and trusted networks wider than these prefixes (a /8 of trusted proxies is
    # a network of clients that choose their own address). Lower them only for a proxy pool that big.
    trusted_proxies_min_prefix_v4: int = Field(16, ge=0, le=32)
    trusted_proxies_min_prefix_v6: int = Field(48, ge=0, le=128)
    # Failed authentication (bad API keys, console sign-ins) per client address: after this many in the
    # window (counted from the first failure), that address gets 429 too_many_failed_logins until it ends.
    auth_failure_limit: int = Field(10, ge=1)
    auth_failure_window_seconds: int = Field(900, gt=0)
    temporal_port: int = 7233
    temporal_ui_port: int = 8233

    # Checkout behaviour
    reservation_ttl_seconds: int = Field(900, gt=0, description="How long a checkout holds stock")
    quote_ttl_seconds: int = Field(900, gt=0, description="How long a POST /carts/{id}/quote answer may be "
                                   "checked out against (quote_id); a repeat for an unchanged cart reuses it")
    authentication_timeout_seconds: int = Field(600, gt=0, description="How long 3-D Secure may take; keep "
                                                "it below RESERVATION_TTL_SECONDS")
    reservation_sweep_seconds: float = Field(30.0, gt=0, description="How often workers release expired holds")
    checkout_provider_budget_seconds: float = Field(300, gt=0, description="How long a checkout keeps retrying "
                                                    "an unavailable provider before failing checkout_unavailable")

    # Peak load: backpressure, request limits, worker processes and metrics
    max_inflight_checkouts: int = Field(500, ge=0, description="POST /checkouts answers 429 beyond this many "
                                        "pending checkouts (0: no cap)")
    max_body_bytes: int = Field(1024 * 1024, gt=0, description="Larger request bodies get 413 (CSV import: 5 MiB)")
    worker_processes: int = Field(1, ge=1, description="`orderflow worker` processes (each its own loop and client)")
    worker_metrics_port: int = Field(9464, ge=0, lt=65536, description="Worker Prometheus port on 127.0.0.1 (0: "
                                     "off); process i of WORKER_PROCESSES uses port + i")
    worker_metrics_host: str = "127.0.0.1"
    # The local card simulator's answer time, to rehearse a slow provider (development and tests).
    local_payment_delay_ms: int = Field(0, ge=0)
    # Whether the local card simulator grants multicapture when an authorization asks for it (Stripe grants it
    # on IC+ accounts only); false rehearses the capture_all_first fallback of SPLIT_CAPTURE_POLICY=multicapture.
    local_payment_multicapture: bool = True
    # Development: seconds between the local carrier's tracking updates after a parcel ships (each after the
    # previous one), sent as signed EasyPost webhooks by `orderflow dev`; a status left out is skipped, {} stops it.
    local_carrier_schedule: dict[Literal["pre_transit", "in_transit", "out_for_delivery", "delivered"],
                                 NonNegativeFloat] = {"pre_transit": 2, "in_transit": 3, "out_for_delivery": 3,
                                                      "delivered": 3}
    # How an order shipped in several parcels is captured. A card authorization is captured once unless it
    # asked for multicapture: "multicapture" asks for it and, where the card's multicapture status is not
    # available, falls back to capturing the whole order with the first parcel; "capture_all_first" never asks.
    split_capture_policy: Literal["multicapture", "capture_all_first"] = "multicapture"

    # Fulfillment timings (seconds) and routing
    authorization_ttl_seconds: int = Field(7 * 24 * 3600, gt=0, description="Re-authorize or cancel after this")
    on_authorization_expiry: Literal["reauthorize", "cancel"] = "reauthorize"
    pack_alert_seconds: int = Field(2 * 24 * 3600, gt=0)
    delivery_alert_seconds: int = Field(10 * 24 * 3600, gt=0)
    delivery_give_up_seconds: int = Field(45 * 24 * 3600, gt=0)
    carrier_retry_seconds: int = Field(15 * 60, gt=0)
    # Returns policy
    return_window_days: float = Field(30, gt=0, description="Days after delivery a return may be requested")
    return_approval_days: float = Field(14, gt=0, description="Undecided return requests expire after this")
    return_ship_back_days: float = Field(14, gt=0, description="Approved returns not shipped back expire after this")
    restocking_fee_bp: int = Field(0, ge=0, le=10_000, description="Fee on returns that are not our fault")
    # JSON: {"us-east": {"us-west": 4, ...}, ...}; unknown pairs count as far away.
    routing_distances: dict[str, dict[str, int]] | None = None

    # Subscriptions (fixed into each subscription when it is created)
    subscription_dunning_retry_days: list[int] = Field([1, 3, 7], description="Retry a declined renewal "
                                                       "charge this many days after the first decline")
    subscription_past_due_grace_days: int = Field(0, ge=0, description="past_due this long before cancelling")
    subscription_out_of_stock: Literal["delay", "ship_available"] = "delay"
    subscription_out_of_stock_retry_days: int = Field(3, ge=0, description="delay: daily retries, then skip")
    subscription_renewal_notice_days: int = Field(3, ge=0, description="Renewal reminder email this many days "
                                                  "before each renewal charge; 0 sends none")

    # Fraud screening in checkout (models.fraud): score 0-100; at or above review/reject it waits for
    # support (POST /checkouts/{id}/review) or fails fraud_rejected. Weights are models.fraud.FraudPolicy's.
    fraud_screening_enabled: bool = True
    fraud_review_score: int = Field(50, ge=1, le=100)
    fraud_reject_score: int = Field(80, ge=1, le=100)
    fraud_review_timeout_seconds: int = Field(24 * 3600, gt=0, description="Unreviewed checkouts then fail "
                                              "fraud_review_timeout")
    fraud_velocity_per_hour: int = Field(3, ge=1, description="Prior checkouts per email or card in an hour")
    fraud_velocity_per_day: int = Field(10, ge=1, description="... and in a day")
    fraud_ip_velocity_per_hour: int = Field(10, ge=1)
    fraud_ip_velocity_per_day: int = Field(30, ge=1)
    fraud_high_risk_categories: list[str] = Field(["gift-cards"], description="Product categories that add risk")
    fraud_high_value_amount: int = Field(100_000, ge=0, description="Order total (minor units) that adds risk")
    fraud_very_high_value_amount: int = Field(500_000, ge=0)

    # Abandoned carts: reminder emails this many seconds after a cart gets an email; [] disables them.
    cart_reminder_delays_seconds: list[int] = Field([3600, 24 * 3600, 72 * 3600])

    # Provider backends: "local" is the embedded, deterministic stand-in; "auto" (resolved at
    # load) picks the real provider when its credentials are set, else the stand-in.
    payment_backend: Literal["auto", "local", "stripe"] = "auto"
    tax_backend: Literal["auto", "local", "avalara"] = "auto"
    shipping_backend: Literal["auto", "local", "easypost"] = "auto"

    # Provider credentials. Unset or "" = not configured; set but malformed = refuse to start.
    stripe_api_key: SecretStr | None = None
    stripe_api_base: str | None = None  # e.g. http://127.0.0.1:8420 for localstripe
    stripe_webhook_secret: SecretStr | None = None
    avalara_account_id: str | None = None
    avalara_license_key: SecretStr | None = None
    avalara_company_code: str = "DEFAULT"
    avalara_environment: str = "sandbox"  # sandbox | production | a base URL
    easypost_api_key: SecretStr | None = None
    easypost_api_base: str | None = None  # e.g. http://127.0.0.1:9000/v2
    easypost_webhook_secret: SecretStr | None = None
    # Where parcels ship from: required by EasyPost, used by Avalara when set.
    ship_from_name: str | None = None
    ship_from_line1: str | None = None
    ship_from_line2: str | None = None
    ship_from_city: str | None = None
    ship_from_region: str | None = None
    ship_from_postal_code: str | None = None
    ship_from_country: str | None = None

    # Customer email. Empty SMTP_HOST writes .eml files into OUTBOX_DIR instead (development only).
    smtp_host: str = ""
    smtp_port: int = Field(587, gt=0, lt=65536)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_use_tls: bool = True  # STARTTLS; on port 465, TLS from the first byte
    email_sender: str = Field("orders@orderflow.local", pattern=r"^[^@\s]+@[^@\s]+$")
    outbox_dir: Path | None = None  # default: STATE_DIR/outbox
    # Printed as the seller on invoices.
    seller_name: str = "orderflow demo store"
    seller_address: str = ""  # one line, e.g. "1 Market St, San Francisco, CA 94105, US"

    log_level: str = "INFO"
    log_json: bool = True

    # ---- Reconciliation (engineer D): a Temporal Schedule settles what lost its provider answer.
    reconciliation_interval_seconds: int = Field(15 * 60, gt=0, description="How often the reconciliation "
                                                 "Schedule runs")
    reconciliation_pending_after_seconds: int = Field(30 * 60, gt=0, description="A ledger operation pending "
                                                      "longer than this lost its answer; younger ones may still "
                                                      "be in a live workflow's hands")
    reconciliation_batch_size: int = Field(200, gt=0, description="At most this many operations (and as many "
                                           "orphan holds) per run; the rest wait for the next run")

    # ---- The clerk's and ops' day (engineer X15): reports, work queues, ops alert digests.
    report_timezone: str = Field("UTC", description="IANA zone whose calendar days the reports count in")
    temporal_ui_url: str = Field("http://127.0.0.1:8233", description="Temporal UI base URL for work-queue links")
    work_queue_expiring_soon_seconds: int = Field(6 * 3600, gt=0, description="Flag fraud reviews and return "
                                                  "decisions that expire within this")
    ops_alert_email: str = Field("", pattern=r"^$|^[^@\s]+@[^@\s]+$", description="Where the ops alert digest "
                                 "goes; empty: no digest")
    ops_alert_interval_seconds: int = Field(15 * 60, gt=0, description="How often the digest Schedule runs")
    ops_alert_fraud_wait_seconds: int = Field(2 * 3600, gt=0, description="A fraud hold waiting longer is "
                                              "alerted")

    @field_validator("report_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"REPORT_TIMEZONE: {value!r} is not an IANA time zone (e.g. Europe/Paris)") from None
        return value

    @field_validator("stripe_api_key", "stripe_api_base", "stripe_webhook_secret", "avalara_account_id",
                     "avalara_license_key", "easypost_api_key", "easypost_api_base", "easypost_webhook_secret",
                     mode="before")
    @classmethod
    def _empty_is_unset(cls, value):
        return None if value == "" else value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, value: str) -> str:
        for entry in (item.strip() for item in value.split(",")):
            if not entry or entry == "*":
                continue
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"TRUSTED_PROXIES: {entry!r} is not an IP address or CIDR network") from None
        return value

    @field_validator("outbox_dir", "smtp_username", "smtp_password", mode="before")
    @classmethod
    def _blank_email_setting_is_unset(cls, value):
        return None if value == "" else value  # OUTBOX_DIR="" must not mean the current directory

    @model_validator(mode="after")
    def _check_provider_settings(self) -> "Settings":
        problems = provider_setting_problems(self)
        if problems:
            raise ValueError("invalid provider settings: " + "; ".join(problems))
        configured = {"stripe": self.stripe_api_key is not None, "avalara": self.avalara_account_id is not None,
                      "easypost": self.easypost_api_key is not None}
        needs = {"stripe": "STRIPE_API_KEY", "avalara": "AVALARA_ACCOUNT_ID and AVALARA_LICENSE_KEY",
                 "easypost": "EASYPOST_API_KEY"}
        for port, real in (("payment", "stripe"), ("tax", "avalara"), ("shipping", "easypost")):
            backend = getattr(self, f"{port}_backend")
            if backend == "auto":
                setattr(self, f"{port}_backend", real if configured[real] else "local")
            elif backend == real and not configured[real]:
                raise ValueError(f"{port.upper()}_BACKEND={real} needs {needs[real]}")
        if self.shipping_backend == "easypost" and not self.ship_from_complete:
            raise ValueError("EasyPost needs the origin address: SHIP_FROM_NAME, SHIP_FROM_LINE1, SHIP_FROM_CITY, "
                             "SHIP_FROM_POSTAL_CODE and SHIP_FROM_COUNTRY")
        return self

    @property
    def ship_from_complete(self) -> bool:
        return all((self.ship_from_name, self.ship_from_line1, self.ship_from_city, self.ship_from_postal_code,
                    self.ship_from_country))

    @model_validator(mode="after")
    def _production_needs_real_providers(self) -> "Settings":
        if self.environment == "production":
            local = [n for n in ("payment", "tax", "shipping") if getattr(self, f"{n}_backend") == "local"]
            if local:
                raise ValueError(f"production refuses local stand-in backends for: {', '.join(local)}")
            if not self.database_url or not self.temporal_address:
                raise ValueError("production needs DATABASE_URL and TEMPORAL_ADDRESS")
            if not self.smtp_host:
                raise ValueError("production needs SMTP_HOST: the local outbox sends no customer email")
        return self

    @property
    def email_outbox(self) -> Path:
        return self.outbox_dir or self.state_dir / "outbox"

    # ---- Unsubscribe links in marketing email (abandoned-cart reminders; models/unsubscribe.py) ----
    # Signed with HMAC-SHA256 under UNSUBSCRIBE_SECRET; they point at PUBLIC_BASE_URL, the API as
    # recipients reach it. Development and tests fall back to DEV_UNSUBSCRIBE_SECRET and
    # http://API_HOST:API_PORT; production refuses to start without both (an https URL).
    unsubscribe_secret: SecretStr | None = None
    public_base_url: str = ""

    @field_validator("unsubscribe_secret", mode="before")
    @classmethod
    def _blank_unsubscribe_secret_is_unset(cls, value):
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("public_base_url")
    @classmethod
    def _public_base_url_is_http(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"PUBLIC_BASE_URL must be an http(s) URL, got {value!r}")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _production_needs_unsubscribe_settings(self) -> "Settings":
        if self.environment == "production":
            secret = self.unsubscribe_secret.get_secret_value() if self.unsubscribe_secret else ""
            weakness = "is the development secret" if secret == DEV_UNSUBSCRIBE_SECRET else weak_secret_reason(secret)
            if weakness:
                raise ValueError(f"production needs UNSUBSCRIBE_SECRET: a random value of at least {MIN_SECRET_LENGTH} "
                                 f"characters (e.g. `openssl rand -hex 32`); this one {weakness}")
            if not self.public_base_url.startswith("https://"):
                raise ValueError("production needs PUBLIC_BASE_URL: the https URL recipients reach the API at")
        return self

    @property
    def unsubscribe_key(self) -> str:
        return self.unsubscribe_secret.get_secret_value() if self.unsubscribe_secret else DEV_UNSUBSCRIBE_SECRET

    @property
    def public_url(self) -> str:
        return self.public_base_url or f"http://{self.api_host}:{self.api_port}"

    @property
    def unsubscribe_links(self) -> UnsubscribeLinks:
        """What the worker signs marketing email's unsubscribe links with, and the API checks them with."""
        return UnsubscribeLinks(self.unsubscribe_key, self.public_url)

    @model_validator(mode="after")
    def _production_is_hardened(self) -> "Settings":
        if self.environment == "production":
            problems = production_problems(self)
            if problems:
                raise ValueError("production refuses: " + "; ".join(problems))
        return self

    @model_validator(mode="after")
    def _live_providers_need_a_real_unsubscribe_secret(self) -> "Settings":
        # In every environment: the development constant is public, so anyone could forge unsubscribe
        # links for the real customers a live provider setup reaches.
        if self.unsubscribe_key == DEV_UNSUBSCRIBE_SECRET and live_providers(self):
            raise ValueError(f"UNSUBSCRIBE_SECRET: live providers are configured ({', '.join(live_providers(self))}) "
                             "but unsubscribe links would be signed with the public development secret; set "
                             "UNSUBSCRIBE_SECRET (e.g. `openssl rand -hex 32`)")
        return self

    # ---- Customer, guest-order and cart tokens the storefront presents (models/customer_tokens.py) ----
    # HMAC-SHA256 under CUSTOMER_TOKEN_SECRET; development and tests fall back to DEV_CUSTOMER_TOKEN_SECRET,
    # production refuses to start without a random value of at least 32 characters.
    customer_token_secret: SecretStr | None = None
    customer_token_ttl_seconds: int = Field(7 * 24 * 3600, ge=300)

    @field_validator("customer_token_secret", mode="before")
    @classmethod
    def _blank_customer_token_secret_is_unset(cls, value):
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _customer_tokens_need_a_real_secret(self) -> "Settings":
        # The development constant is public: with it anyone could mint a token for any customer or order.
        secret = self.customer_token_secret.get_secret_value() if self.customer_token_secret else ""
        if self.environment == "production":
            weakness = "is the development secret" if secret in ("", DEV_CUSTOMER_TOKEN_SECRET) else \
                weak_secret_reason(secret)
            if weakness:
                raise ValueError(f"CUSTOMER_TOKEN_SECRET: a random value of at least {MIN_SECRET_LENGTH} characters "
                                 f"is needed (e.g. `openssl rand -hex 32`); this one {weakness}")
        return self

    # ---- One-time sign-in links by email (a guest claiming their orders; a forgotten password) ----
    # The storefront's page that takes `?token=` and posts it to POST /customers/sign-in-links/redeem
    # (a page, not an API link: mail scanners follow links and would spend the one use). Production without
    # it answers 503 sign_in_links_not_configured; development mails links to DEV_SIGN_IN_PAGE.
    storefront_sign_in_url: str = ""

    @field_validator("storefront_sign_in_url")
    @classmethod
    def _sign_in_url_is_http(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"STOREFRONT_SIGN_IN_URL must be an http(s) URL, got {value!r}")
        return value

    @property
    def sign_in_links_enabled(self) -> bool:
        return bool(self.storefront_sign_in_url) or self.environment != "production"

    @property
    def sign_in_page(self) -> str:
        return self.storefront_sign_in_url or DEV_SIGN_IN_PAGE

    @property
    def customer_tokens(self) -> CustomerTokens:
        secret = self.customer_token_secret.get_secret_value() if self.customer_token_secret else None
        return CustomerTokens(secret or DEV_CUSTOMER_TOKEN_SECRET, self.customer_token_ttl_seconds)

    # Where customer email links point (order page, cart): the storefront, which passes the link's token on.
    storefront_url: str = ""

    @property
    def storefront_links(self) -> StorefrontLinks | None:
        """Signed links the worker puts in customer email (the same CUSTOMER_TOKEN_SECRET as the API's). Outside
        production they default to the API's URL; production without STOREFRONT_URL sends email without links
        rather than links to the API, which a customer cannot open without a key."""
        if not self.storefront_url and self.environment == "production":
            return None
        return StorefrontLinks(self.customer_tokens, self.storefront_url or self.public_url)

    # ---- Production deployment (README "Running in production") ----
    # PostgreSQL. DATABASE_PASSWORD (or DATABASE_PASSWORD_FILE) goes into DATABASE_URL, so the URL itself
    # can sit in plain configuration. Each process holds at most DATABASE_POOL_SIZE + DATABASE_MAX_OVERFLOW
    # connections; a worker sizes its activity slots to that (one connection per running activity).
    database_password: SecretStr | None = None
    database_pool_size: int = Field(10, ge=1)
    database_max_overflow: int = Field(10, ge=0)
    # Behind PgBouncer in transaction mode a prepared statement lands on another server connection
    # ("prepared statement ... does not exist"): true turns psycopg's automatic prepares off.
    database_pgbouncer: bool = False
    # Optional read replica for reports and read-only pages; empty: everything reads the primary.
    database_read_url: str = ""

    # Temporal beyond a plain local frontend: TLS (mTLS with a client certificate) and Temporal Cloud API keys.
    temporal_tls: bool = False
    temporal_tls_ca_file: Path | None = None  # default: the system's trusted CAs
    temporal_tls_cert_file: Path | None = None  # mTLS client certificate (with the key below)
    temporal_tls_key_file: Path | None = None
    temporal_tls_server_name: str | None = None
    temporal_api_key: SecretStr | None = None  # Temporal Cloud API key (TLS is then implied)

    # Worker lifecycle. On SIGTERM a worker stops polling and gives running activities this long to finish
    # before cancelling them; orchestrators must wait longer (terminationGracePeriodSeconds, stop_grace_period).
    worker_drain_seconds: float = Field(60, ge=0)
    # Activity slots per worker process; 0: twice DATABASE_POOL_SIZE + DATABASE_MAX_OVERFLOW. An activity holds
    # a connection only for its statements, never across a provider call (PaymentService, quoting), so slots
    # equal to the pool left provider activities waiting seconds for a slot at 50 concurrent checkouts while
    # 2-4 connections were in a transaction (bench/README.md); twice the pool still bounds the work a busy
    # worker takes on, so the excess waits in Temporal (visible, taken by another worker). Local activities
    # are bounded by the same number (worker.build_workers); a step that waits for a connection anyway (up to
    # the pool's 30 s) is still alive for Temporal: the payment heartbeats from its start.
    worker_activity_slots: int = Field(0, ge=0)
    # Provider-bound payment activities on their own task queue with a cluster-wide rate limit (Stripe
    # allows 100 requests/s live, 25 in test mode; an activity makes one or two). Empty: one task queue.
    payments_task_queue: str = ""
    payments_activities_per_second: float = Field(40, gt=0)
    payments_activity_slots: int = Field(5, ge=1)
    # Worker Versioning: a build id per deployed image (e.g. the git sha) under WORKER_DEPLOYMENT_NAME.
    # Empty: unversioned (every worker takes every task; workflow changes rely on patched() alone).
    worker_build_id: str = ""
    worker_deployment_name: str = "orderflow"

    @field_validator("database_password", "temporal_api_key", mode="before")
    @classmethod
    def _blank_deploy_secret_is_unset(cls, value):
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("database_read_url")
    @classmethod
    def _read_url_is_postgres(cls, value: str) -> str:
        if value and not value.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
            raise ValueError("DATABASE_READ_URL must be a PostgreSQL URL")
        return value

    @model_validator(mode="after")
    def _database_password_goes_into_the_urls(self) -> "Settings":
        # Here, once: every user of DATABASE_URL (migrations, CLI, adapters, tests) gets a working URL.
        self.database_url = with_password(self.database_url, self.database_password)
        self.database_read_url = with_password(self.database_read_url, self.database_password)
        return self

    @model_validator(mode="after")
    def _tls_files_come_in_pairs(self) -> "Settings":
        if (self.temporal_tls_cert_file is None) != (self.temporal_tls_key_file is None):
            raise ValueError("TEMPORAL_TLS_CERT_FILE and TEMPORAL_TLS_KEY_FILE go together (mTLS)")
        if self.payments_task_queue and self.payments_task_queue == self.task_queue:
            raise ValueError("PAYMENTS_TASK_QUEUE must differ from TASK_QUEUE (or be empty)")
        return self

    @property
    def database_urls(self) -> tuple[str, str]:
        """(primary, reads): reads is the primary without a replica."""
        return self.database_url, self.database_read_url or self.database_url

    @property
    def activity_slots(self) -> int:
        return self.worker_activity_slots or 2 * (self.database_pool_size + self.database_max_overflow)


def with_password(database_url: str, password: SecretStr | None) -> str:
    """``database_url`` with ``password`` put in (percent-encoded), unless the URL already carries one."""
    if not password or not database_url or "://" not in database_url:
        return database_url
    scheme, rest = database_url.split("://", 1)
    userinfo, at, location = rest.rpartition("@")
    if not at or ":" in userinfo:
        return database_url
    from urllib.parse import quote

    return f"{scheme}://{userinfo}:{quote(password.get_secret_value(), safe='')}@{location}"


DEV_UNSUBSCRIBE_SECRET = "orderflow-development-unsubscribe-secret"  # never accepted in production
DEV_CUSTOMER_TOKEN_SECRET = "orderflow-development-customer-token-secret"  # never accepted in production
DEV_SIGN_IN_PAGE = "http://localhost:3000/account/sign-in"  # a storefront on its usual development port


STRIPE_KEY_PREFIXES = ("sk_test_", "sk_live_", "rk_test_", "rk_live_")
STRIPE_TEST_KEY_PREFIXES = ("sk_test_", "rk_test_")
STRIPE_LIVE_KEY_PREFIXES = ("sk_live_", "rk_live_")
EASYPOST_TEST_KEY_PREFIX = "EZTK"  # EasyPost test keys; production keys start with EZAK
EASYPOST_LIVE_KEY_PREFIX = "EZAK"

# The one entropy rule for secrets we generate ourselves (UNSUBSCRIBE_SECRET): at least 32 characters,
# at least 8 distinct ones, and not one shorter block repeated. It refuses typed-in values ("s" * 40,
# "changeme" * 4) while any random hex or base64 value of that length passes (32 random hex characters
# have fewer than 8 distinct ones with odds below one in a million).
MIN_SECRET_LENGTH = 32
MIN_SECRET_DISTINCT_CHARACTERS = 8


def weak_secret_reason(secret: str) -> str | None:
    """Why ``secret`` is too guessable to sign with, or None."""
    if len(secret) < MIN_SECRET_LENGTH:
        return f"has {len(secret)} characters"
    if len(set(secret)) < MIN_SECRET_DISTINCT_CHARACTERS:
        return f"has only {len(set(secret))} distinct characters"
    if secret in (secret + secret)[1:-1]:  # true exactly when secret is a block repeated
        return "repeats a shorter pattern"
    return None


def live_providers(settings: Settings) -> list[str]:
    """The providers configured with live (real-customer) credentials."""
    live = []
    if settings.stripe_api_key and settings.stripe_api_key.get_secret_value().startswith(STRIPE_LIVE_KEY_PREFIXES):
        live.append("STRIPE_API_KEY")
    if settings.easypost_api_key and settings.easypost_api_key.get_secret_value().startswith(EASYPOST_LIVE_KEY_PREFIX):
        live.append("EASYPOST_API_KEY")
    if settings.avalara_account_id is not None and settings.avalara_environment.lower() == "production":
        live.append("AVALARA_ENVIRONMENT")
    return live


def production_problems(settings: Settings) -> list[str]:
    """What production refuses beyond missing settings: open proxies, absent webhook secrets, test keys."""
    problems = trusted_proxy_problems(settings)
    if settings.payment_backend == "stripe" and settings.stripe_webhook_secret is None:
        problems.append("STRIPE_WEBHOOK_SECRET is required with Stripe (3-D Secure checkouts wait for its webhooks)")
    if settings.shipping_backend == "easypost" and settings.easypost_webhook_secret is None:
        problems.append("EASYPOST_WEBHOOK_SECRET is required with EasyPost (tracking arrives by webhook)")
    if settings.stripe_api_key and settings.stripe_api_key.get_secret_value().startswith(STRIPE_TEST_KEY_PREFIXES):
        problems.append("STRIPE_API_KEY is a test-mode key (sk_test_/rk_test_)")
    if settings.easypost_api_key and settings.easypost_api_key.get_secret_value().startswith(EASYPOST_TEST_KEY_PREFIX):
        problems.append("EASYPOST_API_KEY is a test key (EZTK...)")
    return problems


def trusted_proxy_problems(settings: Settings) -> list[str]:
    min_prefix = {4: settings.trusted_proxies_min_prefix_v4, 6: settings.trusted_proxies_min_prefix_v6}
    problems = []
    for entry in (item.strip() for item in settings.trusted_proxies.split(",")):
        if entry == "*":
            problems.append("TRUSTED_PROXIES=* (every client could choose the address the fraud checks see)")
        elif entry:
            network = ipaddress.ip_network(entry, strict=False)
            if network.prefixlen < min_prefix[network.version]:
                problems.append(f"TRUSTED_PROXIES entry {entry} is wider than /{min_prefix[network.version]} "
                                f"(TRUSTED_PROXIES_MIN_PREFIX_V{network.version})")
    return problems


def provider_setting_problems(settings: Settings) -> list[str]:
    """Everything wrong with the provider settings that are present (absent ones are fine)."""
    problems = []
    if settings.stripe_api_key is not None:
        key = settings.stripe_api_key.get_secret_value()
        if key.startswith("pk_"):
            problems.append("STRIPE_API_KEY is a publishable key (pk_...); use the secret key (sk_...) or a "
                            "restricted key (rk_...)")
        elif not key.startswith(STRIPE_KEY_PREFIXES) or key != key.strip() or " " in key:
            problems.append("STRIPE_API_KEY must start with sk_test_, sk_live_, rk_test_ or rk_live_")
    webhook_secret = settings.stripe_webhook_secret
    if webhook_secret is not None and not webhook_secret.get_secret_value().startswith("whsec_"):
        problems.append("STRIPE_WEBHOOK_SECRET must start with whsec_")
    for name in ("stripe_api_base", "easypost_api_base"):
        value = getattr(settings, name)
        if value is not None and not value.startswith(("http://", "https://")):
            problems.append(f"{name.upper()} must be an http(s) URL, got {value!r}")
    avalara = (settings.avalara_account_id, settings.avalara_license_key)
    if any(v is not None for v in avalara):
        if not all(v is not None for v in avalara):
            problems.append("Avalara needs both AVALARA_ACCOUNT_ID and AVALARA_LICENSE_KEY")
        if settings.avalara_account_id is not None and not settings.avalara_account_id.strip().isdigit():
            problems.append("AVALARA_ACCOUNT_ID must be numeric")
        if settings.avalara_license_key is not None and not settings.avalara_license_key.get_secret_value().strip():
            problems.append("AVALARA_LICENSE_KEY is blank")
        if not settings.avalara_company_code.strip():
            problems.append("AVALARA_COMPANY_CODE is blank")
        env = settings.avalara_environment
        if env.lower() not in ("sandbox", "production") and not env.startswith(("http://", "https://")):
            problems.append(f"AVALARA_ENVIRONMENT must be sandbox, production or an http(s) URL, got {env!r}")
    if settings.easypost_api_key is not None:
        key = settings.easypost_api_key.get_secret_value()
        if not key.strip() or len(key.split()) != 1 or key != key.strip():
            problems.append("EASYPOST_API_KEY is blank or contains whitespace")
    return problems


@lru_cache
def get_settings() -> Settings:
    return Settings()
