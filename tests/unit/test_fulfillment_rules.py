from models.fulfillment import OrderLineSnapshot, ShipmentItem, shipment_capture_amount, status_after_shipment
from models.order_state import OrderStatus

LINES = [
    OrderLineSnapshot(sku="A", title="A", quantity=3, unit_price=1000, line_total=3000, tax=218),
    OrderLineSnapshot(sku="B", title="B", quantity=1, unit_price=999, line_total=999, tax=72),
]
TOTAL = 3000 + 218 + 999 + 72 + 599  # lines, tax, shipping


def test_split_shipment_captures_sum_to_the_total():
    first = shipment_capture_amount(LINES, [ShipmentItem(sku="A", quantity=2)], order_total=TOTAL,
                                    captured_so_far=0, is_last=False)
    assert first == (3218 * 2) // 3
    second = shipment_capture_amount(LINES, [ShipmentItem(sku="A", quantity=1), ShipmentItem(sku="B", quantity=1)],
                                     order_total=TOTAL, captured_so_far=first, is_last=True)
    assert first + second == TOTAL


def test_single_shipment_captures_everything():
    assert shipment_capture_amount(LINES, [], order_total=TOTAL, captured_so_far=0, is_last=True) == TOTAL


def test_status_follows_shipments():
    assert status_after_shipment(1, 2) == OrderStatus.PARTIALLY_FULFILLED
    assert status_after_shipment(2, 2) == OrderStatus.FULFILLED


def test_a_line_is_delivered_when_all_its_units_are():
    from datetime import UTC, datetime

    from models.fulfillment import line_deliveries

    early, late = datetime(2026, 11, 24, tzinfo=UTC), datetime(2026, 11, 26, tzinfo=UTC)
    shipments = [
        {"items": [{"sku": "A", "quantity": 2}], "delivered_at": late},
        {"items": [{"sku": "A", "quantity": 1}, {"sku": "B", "quantity": 1}], "delivered_at": early},
        {"items": [{"sku": "C", "quantity": 1}], "delivered_at": None},
    ]
    assert line_deliveries(shipments) == {"A": (3, late), "B": (1, early)}
