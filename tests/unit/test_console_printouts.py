"""What the warehouse prints and the reports chart, without a database: pick list lines, PDFs, the SVG."""

import re
from datetime import UTC, date, datetime

from adapters.packing_pdf import render_packing_slip, render_pick_list
from api.console_chart import revenue_chart
from models.commerce import Address
from models.packing import PackedItem, PackingSlip, pick_list

AT = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def test_a_pick_list_has_one_line_per_sku_in_shelf_order_naming_its_parcels():
    picks = pick_list("us-east", AT, [("shp_b", "TEE-M", "Tee M", 2), ("shp_a", "MUG", "Mug", 1),
                                      ("shp_a", "TEE-M", "Tee M", 1)])
    assert picks.parcels == 2
    assert [(line.sku, line.quantity, line.shipment_ids) for line in picks.lines] == [
        ("MUG", 1, ["shp_a"]), ("TEE-M", 3, ["shp_a", "shp_b"])]


def test_printouts_are_pdfs_and_the_same_data_gives_the_same_bytes():
    slip = PackingSlip(shipment_id="shp_1", order_id="ord_1", order_date=AT, location_code="us-east",
                       ship_to=Address(name="Zoë Ōtsuka", line1="1 Main St", city="Springfield", postal_code="1",
                                       country="US"),
                       items=[PackedItem(sku="TEE-M", title="Tee ✓", quantity=2)])
    picks = pick_list("us-east", AT, [("shp_1", "TEE-M", "Tee", 2)])
    for render, data in ((render_packing_slip, slip), (render_pick_list, picks)):
        pdf = render(data)
        assert pdf.startswith(b"%PDF") and pdf == render(data)


def test_the_revenue_chart_draws_one_bar_per_day_scaled_to_the_best_day():
    svg = str(revenue_chart([(date(2026, 11, 28), 1000), (date(2026, 11, 29), 0), (date(2026, 11, 30), 4000)], "USD"))
    heights = [float(h) for h in re.findall(r'<rect [^>]*height="([\d.]+)"', svg)]
    assert len(heights) == 3 and heights[1] == 0 and heights[2] == 4 * heights[0]
    assert "<title>2026-11-30: 40.00 USD</title>" in svg and "<script" not in svg
