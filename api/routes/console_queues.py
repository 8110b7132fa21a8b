"""Console: one work queue's items, oldest first, each with its action — decide a fraud hold, decide, receive or
inspect a return, print and pack a parcel, retry a carrier, resolve an order's alerts.

Each action calls the handler its JSON route calls (services/) and goes back to the page it came from with the
outcome as a flash message. Permissions: api/access.py CONSOLE_PERMISSIONS, checked by api/console_web.py.
"""

import asyncio
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from adapters.packing_pdf import render_packing_slip, render_pick_list

from api.console_web import (
    CheckedSession, ConsoleRoute, Session, back_to, flash, flashed, input_problem, now, page, redirect_with_flash,
)
from api.deps import AppSettings, Engine, Services
from db import inventory_admin, packing
from models.returns import InspectedUnits, Inspection
from services import checkout, fulfillment, returns, work_queues

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)
Text = Annotated[str, Form(max_length=2000)]
MAX_UNITS_INSPECTED = 200  # form rows read; a return has at most a few lines of up to 999 units


@router.get("/queues/{queue}")
async def queue_page(request: Request, queue: str, engine: Engine, settings: AppSettings, session: Session):
    """A queue outside the caller's role does not exist for them (the 404 page), as in the API."""
    async with engine.connect() as conn:
        items = await work_queues.items(conn, settings, queue, session.caller.role)
        locations = await inventory_admin.list_locations(conn) if queue == "returns_to_inspect" else []
    pick_locations = sorted({item.details.get("location") for item in items}) if queue == "parcels_to_pack" else []
    return page("queue.html", session=session, queue=queue, items=items, locations=locations,
                pick_locations=pick_locations, now=now(), back=request.url.path, flash=flash(request, session))


@router.post("/checkouts/{checkout_id}/review")
async def review(checkout_id: str, services: Services, session: CheckedSession,
                 decision: Annotated[Literal["approve", "reject"], Form()], note: Text = "", back: Text = ""):
    """Support's decision on a checkout held for fraud review."""
    back = back_to(back, "/console/queues/fraud_review")

    async def act() -> str:
        row, _, _ = await checkout.review_checkout(services, checkout.ReviewCheckout(
            checkout_id=checkout_id, decision=decision, note=note.strip()[:1000], caller=session.caller))
        return f"Checkout {row.id} {'approved' if decision == 'approve' else 'rejected'}."

    return await flashed(session, back, "Review not recorded", act, action="fraud review", checkout_id=checkout_id)


@router.post("/returns/{rma_id}/receive")
async def receive(rma_id: str, services: Services, session: CheckedSession, back: Text = ""):
    back = back_to(back, "/console/queues/returns_to_receive")

    async def act() -> str:
        await returns.receive_return(services, returns.ReceiveReturn(rma_id=rma_id, caller=session.caller))
        return f"Return {rma_id} received."

    return await flashed(session, back, "Return not received", act, action="return receive", rma_id=rma_id)


@router.post("/returns/{rma_id}/inspect")
async def inspect(request: Request, rma_id: str, services: Services, session: CheckedSession, note: Text = "",
                  back: Text = ""):
    """One row per unit (``unitN_sku``, ``unitN_disposition``, ``unitN_accepted``, ``unitN_location``); units
    alike are counted together, as the API takes them."""
    back = back_to(back, "/console/queues/returns_to_inspect")
    form = await request.form()

    async def act() -> str | RedirectResponse:
        try:
            inspection = Inspection(units=_inspected_units(form), note=note.strip()[:500] or None)
        except ValueError as error:
            return redirect_with_flash(session, back, error=f"Inspection not recorded: {input_problem(error)}")
        await returns.inspect_return(services, returns.InspectReturn(rma_id=rma_id, inspection=inspection,
                                                                     caller=session.caller))
        return f"Return {rma_id} inspected."

    return await flashed(session, back, "Inspection not recorded", act, action="return inspect", rma_id=rma_id)


def _inspected_units(form) -> list[InspectedUnits]:
    counted: dict[tuple, int] = {}
    for n in range(MAX_UNITS_INSPECTED):
        sku = str(form.get(f"unit{n}_sku", ""))[:64]
        if not sku:
            break
        disposition = str(form.get(f"unit{n}_disposition", ""))[:20]
        location = str(form.get(f"unit{n}_location", ""))[:50] if disposition == "resell" else None
        key = (sku, disposition, form.get(f"unit{n}_accepted") == "yes", location or None)
        counted[key] = counted.get(key, 0) + 1
    return [InspectedUnits(sku=sku, quantity=quantity, disposition=disposition, accepted=accepted,
                           location_code=location)
            for (sku, disposition, accepted, location), quantity in counted.items()]


@router.post("/shipments/{shipment_id}/packed")
async def packed(shipment_id: str, services: Services, session: CheckedSession, back: Text = ""):
    """The parcel is packed: its workflow buys the label, captures payment and ships."""
    return await _on_shipment(services, session, back_to(back, "/console/queues/parcels_to_pack"),
                              fulfillment.mark_packed, fulfillment.MarkPacked(shipment_id, session.caller),
                              done="marked packed: the label is being bought", refused="Not marked packed")


@router.post("/shipments/{shipment_id}/retry-carrier")
async def retry_carrier(shipment_id: str, services: Services, session: CheckedSession, back: Text = ""):
    """A provider problem is fixed: the parcel's stuck step runs now, not at its next timer."""
    return await _on_shipment(services, session, back_to(back, "/console/queues/parcel_alerts"),
                              fulfillment.retry_carrier, fulfillment.RetryCarrier(shipment_id, session.caller),
                              done="its stuck step is being retried", refused="Not retried")


async def _on_shipment(services, session, back: str, handler, command, *, done: str, refused: str):
    async def act() -> str:
        await handler(services, command)
        return f"Parcel {command.shipment_id}: {done}."

    return await flashed(session, back, refused, act, action=handler.__name__, shipment_id=command.shipment_id)


@router.post("/orders/{order_id}/alerts/resolve")
async def resolve_alerts(order_id: str, services: Services, session: CheckedSession, note: Text = "",
                         back: Text = ""):
    """Someone finished by hand what the order's alerts asked for."""
    back = back_to(back, f"/console/orders/{quote(order_id, safe='')}")

    async def act() -> str:
        await work_queues.resolve_order_alerts(services, work_queues.ResolveOrderAlerts(
            order_id=order_id, note=note.strip()[:500], caller=session.caller))
        return f"Order {order_id}: alerts marked resolved."

    return await flashed(session, back, "Not resolved", act, action="resolve alerts", order_id=order_id)


@router.get("/shipments/{shipment_id}/packing-slip.pdf")
async def packing_slip(shipment_id: str, engine: Engine, session: Session):
    """What goes in the box, and where it goes (no prices)."""
    async with engine.connect() as conn:
        slip = await packing.packing_slip(conn, shipment_id)  # NotFound → the 404 page
    return _pdf(await asyncio.to_thread(render_packing_slip, slip), f"packing-slip-{shipment_id}.pdf")


@router.get("/pick-list.pdf")
async def pick_list(engine: Engine, session: Session, location: str = ""):
    """Every SKU to take off the shelves of ``location`` for the parcels waiting there, in SKU order."""
    async with engine.connect() as conn:
        picks = await packing.pick_list_for(conn, location[:50], now())
    return _pdf(await asyncio.to_thread(render_pick_list, picks), f"pick-list-{picks.location_code}.pdf")


def _pdf(content: bytes, filename: str) -> Response:
    # Not the pages' CSP (default-src 'none' keeps the browser's PDF viewer from drawing); still never framed.
    return Response(content, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{quote(filename)}"', "Content-Security-Policy": "frame-ancestors 'none'"})
