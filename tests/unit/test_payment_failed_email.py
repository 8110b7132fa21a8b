"""The dunning email tells the customer what will fix the payment, not just that it failed."""

from datetime import UTC, datetime

from models.subscriptions import payment_failed_email

RETRY = datetime(2026, 12, 4, tzinfo=UTC)


def email(**overrides):
    values = dict(subscription_id="sub_1", email="ada@example.com", name="Ada", cycle=2, attempt=1, amount=4825,
                  currency="USD", next_retry_at=RETRY)
    return payment_failed_email(**values | overrides)


def test_a_plain_decline_names_the_amount_the_retry_date_and_the_card_update():
    text = email(decline_code="insufficient_funds").text
    assert "the renewal payment of 48.25 USD for your subscription sub_1 was declined (attempt 1)" in text
    assert "We will try again on 2026-12-04." in text
    assert "update the payment method" in text and "confirm" not in text


def test_a_bank_asking_for_3ds_tells_the_customer_to_confirm_through_a_payment_method_update():
    text = email(decline_code="authentication_required").text
    assert "Your bank asked you to confirm this payment" in text
    assert "update the payment method" in text and "We will try again on 2026-12-04." in text


def test_the_last_attempt_says_past_due_whatever_the_reason():
    for code in (None, "authentication_required"):
        text = email(next_retry_at=None, attempt=4, decline_code=code).text
        assert "This was our last attempt: your subscription is past due and will be cancelled." in text
        assert "We will try again" not in text


def test_each_attempt_is_its_own_idempotent_message():
    assert email(attempt=1).idempotency_key != email(attempt=2).idempotency_key
    assert email(attempt=2).idempotency_key == email(attempt=2, decline_code="authentication_required").idempotency_key
