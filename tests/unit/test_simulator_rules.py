"""The simulator's rules without a stack: the carrier's plan, signatures the real parsers accept,
development-only refusals, and the dev stack's webhook secrets."""

import json
import stat
import time

import pytest

import cli
from adapters.easypost_shipping import parse_webhook as parse_easypost
from adapters.local.shipping import tracking_plan
from adapters.stripe_payment import parse_webhook as parse_stripe
from config import Settings
from devstack import dev_webhook_secrets, running_webhook_secrets, webhook_secret_env
from simulate.commands import refusal
from simulate.webhooks import easypost_signature, stripe_signature

SCHEDULE = {"pre_transit": 2, "in_transit": 3, "out_for_delivery": 3, "delivered": 3}


def test_a_parcel_goes_through_every_status_on_the_schedule():
    assert tracking_plan({"line1": "1 Main St"}, SCHEDULE) == [
        ("pre_transit", 2), ("in_transit", 5), ("out_for_delivery", 8), ("delivered", 11)]


def test_left_out_statuses_are_skipped_and_an_empty_schedule_reports_nothing():
    assert tracking_plan({"line1": "1 Main St"}, {"delivered": 0.5}) == [("delivered", 0.5)]
    assert tracking_plan({"line1": "1 Main St"}, {}) == []


@pytest.mark.parametrize(("line1", "exception"), [("1 Failure Way", "failure"),
                                                  ("1  return to SENDER way", "return_to_sender")])
def test_test_addresses_meet_an_exception_instead_of_delivery(line1, exception):
    assert tracking_plan({"line1": line1}, SCHEDULE) == [("pre_transit", 2), ("in_transit", 5), (exception, 8)]


def test_the_real_webhook_parsers_accept_the_simulators_signatures():
    stripe_body = json.dumps({"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": {}}}).encode()
    now = int(time.time())
    assert parse_stripe(stripe_body, stripe_signature(stripe_body, "whsec_dev", now), "whsec_dev")["id"] == "evt_1"
    easypost_body = json.dumps({"id": "evt_2", "description": "tracker.updated"}).encode()
    assert parse_easypost(easypost_body, easypost_signature(easypost_body, "s3cret"), "s3cret")["id"] == "evt_2"


def test_outside_development_every_command_is_refused():
    for environment in ("test", "production"):
        settings = Settings.model_construct(environment=environment, payment_backend="local",
                                            shipping_backend="local")
        assert "development only" in refusal(settings, "deliver")
        assert "development only" in refusal(settings, "carrier")


def test_the_simulator_only_plays_the_local_stand_ins():
    settings = Settings.model_construct(environment="development", payment_backend="stripe",
                                        shipping_backend="local")
    assert "PAYMENT_BACKEND is stripe" in refusal(settings, "3ds")
    assert refusal(settings, "deliver") is None


def test_the_cli_refuses_in_production_before_doing_anything(monkeypatch, capsys):
    monkeypatch.setattr(cli, "get_settings", lambda: Settings.model_construct(
        environment="production", payment_backend="local", shipping_backend="local", log_level="INFO",
        log_json=True, database_url="postgresql://nowhere/none", worker_processes=1))
    monkeypatch.setattr("simulate.commands.get_settings", cli.get_settings)
    assert cli.main(["simulate", "dispute", "ord_1", "--open"]) == 2
    assert "ENVIRONMENT=production" in capsys.readouterr().err


def test_the_dev_stack_makes_its_webhook_secrets_once_and_privately(tmp_path):
    made = dev_webhook_secrets(tmp_path)
    assert made["stripe"].startswith("whsec_") and len(made["easypost"]) >= 32
    assert dev_webhook_secrets(tmp_path) == made, "kept across restarts"
    assert stat.S_IMODE((tmp_path / "dev-webhook-secrets.json").stat().st_mode) == 0o600


def test_configured_or_real_provider_secrets_are_left_alone(tmp_path):
    made = dev_webhook_secrets(tmp_path)
    local = Settings(environment="development", state_dir=tmp_path)
    assert webhook_secret_env(local, made) == {"STRIPE_WEBHOOK_SECRET": made["stripe"],
                                               "EASYPOST_WEBHOOK_SECRET": made["easypost"]}
    configured = Settings(environment="development", state_dir=tmp_path, stripe_webhook_secret="whsec_mine")
    assert webhook_secret_env(configured, made) == {"EASYPOST_WEBHOOK_SECRET": made["easypost"]}
    assert running_webhook_secrets(configured) == {"stripe": "whsec_mine", "easypost": made["easypost"]}
