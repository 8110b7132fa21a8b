"""Draft order rules and the invoice email, as pure functions."""

import pytest

from models.draft_orders import DraftInvoice, assert_may, draft_invoice_email, invoice_url, reopened_status
from models.errors import Conflict


@pytest.mark.parametrize("action", ["update", "send_invoice", "complete", "cancel"])
@pytest.mark.parametrize("status", ["open", "invoiced"])
def test_an_open_or_invoiced_draft_allows_every_action(action, status):
    assert_may(action, status)


@pytest.mark.parametrize("action", ["update", "send_invoice", "complete", "cancel"])
@pytest.mark.parametrize("status, refusal", [("completed", "draft_already_completed"),
                                             ("cancelled", "draft_cancelled")])
def test_a_finished_draft_refuses_every_action_with_its_code(action, status, refusal):
    with pytest.raises(Conflict) as refused:
        assert_may(action, status)
    assert refused.value.code == refusal and refused.value.details == {"status": status, "action": action}


def test_a_failed_checkout_returns_the_draft_where_it_was():
    assert reopened_status(invoiced=True) == "invoiced" and reopened_status(invoiced=False) == "open"


def test_the_invoice_says_the_total_in_text_and_html_with_the_link():
    url = invoice_url("https://shop.example.com/", "dft_x", "tok")
    message = draft_invoice_email(DraftInvoice(
        draft_id="dft_x", quote_id="quo_y", email="ada@example.com", customer_name="Ada <3", currency="USD",
        total=5599, lines=[("Tee", 2, 5000)], pay_url=url))

    assert url == "https://shop.example.com/draft-orders/dft_x?cart_token=tok"
    assert message.idempotency_key == "dft_x:draft_invoice:quo_y"
    assert "55.99 USD" in message.subject and "2 × Tee" in message.text and url in message.text
    assert "Ada &lt;3" in message.html and 'href="https://shop.example.com/draft-orders/dft_x?cart_token=tok"' \
        in message.html
