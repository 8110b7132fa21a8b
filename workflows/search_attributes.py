"""Custom search attributes ops filter on in the Temporal UI (registered by dev stack and tests)."""

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

ORDER_ID = SearchAttributeKey.for_keyword("OrderId")
CUSTOMER_EMAIL = SearchAttributeKey.for_keyword("CustomerEmail")
CHECKOUT_STATUS = SearchAttributeKey.for_keyword("CheckoutStatus")
CART_ID = SearchAttributeKey.for_keyword("CartId")
ORDER_TOTAL = SearchAttributeKey.for_int("OrderTotal")

FULFILLMENT_STATUS = SearchAttributeKey.for_keyword("FulfillmentStatus")
SHIPMENT_COUNT = SearchAttributeKey.for_int("ShipmentCount")
FULFILLMENT_ALERT = SearchAttributeKey.for_keyword("FulfillmentAlert")

SUBSCRIPTION_STATUS = SearchAttributeKey.for_keyword("SubscriptionStatus")
NEXT_RENEWAL_AT = SearchAttributeKey.for_datetime("NextRenewalAt")
SUBSCRIPTION_ALERT = SearchAttributeKey.for_keyword("SubscriptionAlert")

# Set on a reconciliation run that left something unsettled (``unsettled:<count>``).
RECONCILIATION_ALERT = SearchAttributeKey.for_keyword("ReconciliationAlert")

ALL = (ORDER_ID, CUSTOMER_EMAIL, CHECKOUT_STATUS, CART_ID, ORDER_TOTAL, FULFILLMENT_STATUS, SHIPMENT_COUNT,
       FULFILLMENT_ALERT, SUBSCRIPTION_STATUS, NEXT_RENEWAL_AT, SUBSCRIPTION_ALERT,
       RECONCILIATION_ALERT)


def of_order(order_id: str, email: str | None = None) -> TypedSearchAttributes:
    """What every workflow about one order carries, so `OrderId = '…'` lists them all in the UI."""
    pairs = [SearchAttributePair(ORDER_ID, order_id)]
    if email:
        pairs.append(SearchAttributePair(CUSTOMER_EMAIL, email))
    return TypedSearchAttributes(pairs)
