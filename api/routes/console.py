"""Console: sign-in, the home page (the caller's work queues), finding orders, reading everything about one,
cancelling, refunding, requesting and deciding returns (HTML pages; queue actions: console_queues.py, inventory,
audit and reports: console_admin.py).

Plain forms, POST/redirect/GET, no scripts. Sessions, permissions, CSRF and flashes: ``api.console_web``.
Actions call the same handlers as the API (``services.orders``, ``services.returns``); cancels, refunds,
return requests and return decisions are written to the audit log as the signed-in key.
"""

import secrets
import uuid
from typing import Annotated, Literal
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from api.console_web import (
    COOKIE, LOGIN_COOKIE, CheckedSession, ConsoleRoute, Session, back_to, flash, flashed, input_problem, now,
    page, redirect_with_flash, safe_next, tokens_match,
)
from api.auth import TooManyFailures, authenticate
from api.deps import AppSettings, Engine, Services
from db import audit, fulfillment, refunds
from db import console as console_db
from db import orders as order_store
from db import returns as return_store
from db.work_queues import OPEN_PARCEL
from models.auth import Permission, lowest_role_with
from models.errors import DomainError, NotFound
from models.money import Money, parse_major
from models.refunds import RefundRequest
from models.returns import Decision, ReturnLine, ReturnReason, ReturnRequest
from services import orders, returns, work_queues

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)

MAX_PAGE = 100
CANCELLABLE = {"pending_payment", "authorized", "captured", "partially_fulfilled"}
NOT_REFUNDABLE = {"pending_payment", "cancelled", "refunded"}
Text = Annotated[str, Form(max_length=2000)]


@router.get("/login")
async def login_page(request: Request, next: str = "/console", m: str = ""):
    return _login_form(request, safe_next(next), "Signed out." if m == "signed_out" else "")


@router.post("/login")
async def login(request: Request, engine: Engine, settings: AppSettings, api_key: Text = "", csrf: Text = "", next: Text = "/console"):
    """Trade a support (or higher) API key for a session cookie."""
    if not tokens_match(csrf, request.cookies.get(LOGIN_COOKIE, "")):
        return _login_form(request, safe_next(next), "The sign-in form expired; please try again.", status=400)
    try:
        async with engine.begin() as conn:
            caller = await authenticate(conn, request, settings, api_key.strip())
            if caller is not None and caller.may(Permission.CONSOLE):
                token, session = await console_db.open_session(conn, caller, now())
                await audit.record(conn, caller, "console.login", target=caller.key_id)
    except TooManyFailures as refused:
        response = _login_form(request, safe_next(next), f"Too many failed sign-ins from your address; try again "
                               f"in {refused.retry_after} seconds.", status=429)
        response.headers.update(refused.headers)
        return response
    if caller is None:
        return _login_form(request, safe_next(next), "That API key is not valid (unknown or revoked).", status=401)
    if not caller.may(Permission.CONSOLE):
        return _login_form(request, safe_next(next), f"The {caller.role} role may not use the console (needs "
                                            f"{lowest_role_with(Permission.CONSOLE)}).", status=403)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(COOKIE, token, max_age=int((session.expires_at - now()).total_seconds()), path="/console",
                        httponly=True, samesite="strict", secure=request.url.scheme == "https")
    response.delete_cookie(LOGIN_COOKIE, path="/console/login")
    return response


def _login_form(request: Request, next_path: str, message: str, status: int = 200):
    token = secrets.token_urlsafe(32)
    response = page("login.html", status, csrf=token, next=next_path, message=message)
    response.set_cookie(LOGIN_COOKIE, token, max_age=3600, path="/console/login", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return response


@router.post("/logout")
async def logout(request: Request, engine: Engine, session: CheckedSession):
    async with engine.begin() as conn:
        await console_db.close_session(conn, request.cookies.get(COOKIE))
    response = RedirectResponse("/console/login?m=signed_out", status_code=303)
    response.delete_cookie(COOKIE, path="/console")
    return response


@router.get("")
async def home(request: Request, engine: Engine, settings: AppSettings, session: Session):
    """The caller's work queues: how many items wait, for how long, and how many are about to time out."""
    role = session.caller.role
    async with engine.connect() as conn:
        queues = await work_queues.summaries(conn, role)
        expiring = {queue: sum(item.expiring_soon for item in await work_queues.items(conn, settings, queue, role))
                    for queue in work_queues.EXPIRING_QUEUES if any(q.queue == queue for q in queues)}
    return page("home.html", session=session, queues=queues, expiring=expiring, now=now(),
                flash=flash(request, session))


@router.get("/search")
async def search(request: Request, engine: Engine, session: Session, q: str = "", limit: str = "20",
                 after: str = ""):
    """Find an order by id, or a customer's orders by email (newest first, ``limit`` per page)."""
    query, size = q.strip()[:320], int(limit) if limit.isdigit() and 0 < int(limit) <= MAX_PAGE else 20
    found, next_after, message = None, None, ""
    if query and "@" not in query:
        try:
            async with engine.connect() as conn:
                await fulfillment.order_row(conn, query)
            return RedirectResponse(f"/console/orders/{quote(query, safe='')}", status_code=303)
        except NotFound:
            message = f"No order with id {query}."
    elif query:
        async with engine.connect() as conn:
            try:
                found, next_after = await order_store.search(conn, email=query, limit=size, after=after or None)
            except DomainError:  # a page link to an order that is gone: start again from the newest
                (found, next_after), after = await order_store.search(conn, email=query, limit=size), ""
    next_page = f"/console/search?{urlencode({'q': query, 'limit': size, 'after': next_after})}" if next_after else None
    return page("search.html", session=session, q=query, limit=size, max_page=MAX_PAGE, orders=found,
                message=message, next_page=next_page, first_page=bool(after), flash=flash(request, session))


@router.get("/orders/{order_id}")
async def order_page(request: Request, order_id: str, engine: Engine, session: Session):
    async with engine.connect() as conn:
        found = await order_store.get_order(conn, order_id)  # NotFound → the 404 page
        order = found["order"]
        operations = await console_db.payment_operations_for_order(conn, order)
        context = dict(
            shipments=await fulfillment.shipments_view(conn, order_id), operations=operations,
            refunds=await refunds.for_order(conn, order_id),
            # One order's trail is support's (AUDIT_READ), not every role's.
            audit_entries=await audit.for_order(conn, order_id) if session.caller.may(Permission.AUDIT_READ) else None,
            returns=await return_store.for_order(conn, order_id),
            returnable=await _returnable(conn, order_id),
        )
    return page("order.html", session=session, order=order, lines=found["lines"], events=found["events"],
                refundable=_refundable(operations), can_cancel=order["status"] in CANCELLABLE,
                can_refund=order["status"] not in NOT_REFUNDABLE, refund_key=str(uuid.uuid4()),
                return_key=str(uuid.uuid4()),
                reasons=RETURN_REASONS, open_alerts=_open_alerts(found["events"], context["shipments"]),
                flash=flash(request, session), **context)


def _open_alerts(events: list[dict], shipments: list[dict]) -> list[str]:
    """Why the order needs a person: its alerts since support last marked them resolved, and its parcels' alerts."""
    resolved_at = max((e["created_at"] for e in events if e["type"] == "order.alert_resolved"), default=None)
    alerts = [str((e["data"] or {}).get("alert")) for e in events if e["type"] == "order.alert"
              and (resolved_at is None or e["created_at"] > resolved_at)]
    return alerts + [f"parcel {s['id']}: {s['alert']}" for s in shipments if s["alert"] and s["status"] in OPEN_PARCEL]


RETURN_REASONS = ReturnReason.__args__


async def _returnable(conn, order_id: str) -> dict[str, int]:
    """Units delivered and not already on their way back, per SKU: what a new return may ask for."""
    delivered, _ = await return_store.delivered(conn, order_id)
    already = await return_store.returned(conn, order_id)
    return {sku: left for sku, count in delivered.items() if (left := count - already.get(sku, 0)) > 0}


def _refundable(operations) -> int:
    counted = [op for op in operations if op.status in ("pending", "succeeded")]
    captured = sum(op.amount for op in counted if op.kind in ("capture", "charge"))
    return max(0, captured - sum(op.amount for op in counted if op.kind == "refund"))


@router.post("/orders/{order_id}/cancel")
async def cancel(order_id: str, services: Services, session: CheckedSession, reason: Text = ""):
    back = f"/console/orders/{quote(order_id, safe='')}"
    if not reason.strip() or len(reason.strip()) > 500:
        return redirect_with_flash(session, back, error="Cancel: give a reason (up to 500 characters).")

    async def act() -> str:
        status = await orders.cancel_order(services, orders.CancelOrder(
            order_id=order_id, reason=reason.strip(), caller=session.caller, audit_details={"via": "console"}))
        return f"Order cancelled (status: {status})."

    return await flashed(session, back, "Cancel refused", act, action="cancel", order_id=order_id)


@router.post("/orders/{order_id}/refund")
async def refund(order_id: str, services: Services, session: CheckedSession, mode: Text = "amount",
                 amount: Text = "", reason: Text = "", refund_key: Text = ""):
    """A full refund, or an amount typed in major units (e.g. 12.50), never through a float."""
    back = f"/console/orders/{quote(order_id, safe='')}"

    async def act() -> str | RedirectResponse:
        async with services.engine.connect() as conn:
            order = await fulfillment.order_row(conn, order_id)
        try:
            minor = None if mode == "full" else parse_major(amount, order.currency)
            request = RefundRequest(amount=minor, reason=reason.strip())
        except ValueError as error:  # pydantic's ValidationError is one
            return redirect_with_flash(session, back, error=f"Refund not sent: {input_problem(error)}")
        result, replayed = await orders.issue_refund(services, orders.IssueRefund(
            order_id=order_id, request=request, idempotency_key=refund_key.strip()[:100] or str(uuid.uuid4()),
            caller=session.caller, audit_details={"via": "console", "full": mode == "full"}))
        money = Money(amount=result.amount, currency=result.currency)
        already = " (this form was already sent: nothing new was refunded)" if replayed else ""
        return f"Refunded {money}{already}. Order status: {result.order_status}."

    return await flashed(session, back, "Refund refused", act, action="refund", order_id=order_id)


@router.post("/orders/{order_id}/returns")
async def request_return(request: Request, order_id: str, services: Services, session: CheckedSession,
                         return_key: Text = "", exchange: Text = ""):
    """A return asked for by phone or email: one quantity and reason per SKU (``qty:SKU``, ``reason:SKU``)."""
    back = f"/console/orders/{quote(order_id, safe='')}"
    form = await request.form()

    async def act() -> str | RedirectResponse:
        try:
            lines = [ReturnLine(sku=name[4:], quantity=int(value), reason=str(form.get(f"reason:{name[4:]}", "")))
                     for name, value in form.multi_items() if name.startswith("qty:") and str(value).strip() not in
                     ("", "0")]
            wanted = ReturnRequest(lines=lines, exchange=exchange == "yes")
        except ValueError as error:  # int() or pydantic
            return redirect_with_flash(session, back, error=f"Return not requested: {input_problem(error)}")
        row = await returns.create_return(services, returns.CreateReturn(
            order_id=order_id, request=wanted, idempotency_key=return_key.strip()[:100] or None,
            caller=session.caller, audit_details={"via": "console"}))
        return f"Return {row.id} requested ({row.status})."

    return await flashed(session, back, "Return not requested", act, action="return request", order_id=order_id)


@router.post("/returns/{rma_id}/approve")
async def approve(rma_id: str, services: Services, session: CheckedSession, note: Text = "", back: Text = ""):
    """The customer gets a return label."""
    return await _decide(rma_id, "approve", services, session, note, back)


@router.post("/returns/{rma_id}/reject")
async def reject(rma_id: str, services: Services, session: CheckedSession, note: Text = "", back: Text = ""):
    return await _decide(rma_id, "reject", services, session, note, back)


async def _decide(rma_id: str, decision: Literal["approve", "reject"], services, session, note: str, back: str):
    async with services.engine.connect() as conn:
        order_id = (await return_store.get(conn, rma_id)).order_id  # NotFound → the 404 page
    back = back_to(back, f"/console/orders/{quote(order_id, safe='')}")
    verb = "approved" if decision == "approve" else "rejected"
    body = Decision(note=note.strip()[:500] or None, actor=session.caller.label)

    async def act() -> str:
        await returns.decide_return(services, returns.DecideReturn(
            rma_id=rma_id, decision=decision, body=body, caller=session.caller, audit_details={"via": "console"}))
        return f"Return {rma_id} {verb}."

    return await flashed(session, back, f"Return not {verb}", act, action="return decision", rma_id=rma_id)

