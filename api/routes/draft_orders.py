"""Draft orders (support): build an order for a customer, then complete it by phone or email an invoice whose
link lets the customer pay it through the storefront (handlers: services/draft_orders.py)."""

import ipaddress

from fastapi import APIRouter, Request, Response, status
from pydantic import Field

from api.auth import CurrentCaller
from api.deps import IdempotencyKey, Services
from api.ownership import RequestProofs, acts_for_anyone
from api.schemas import ErrorResponse, Strict
from models.draft_orders import DraftCreate, DraftOrder, DraftUpdate
from models.switches import PaymentMethodType
from services import draft_orders as drafts
from services.errors import required_key

router = APIRouter(prefix="/draft-orders", tags=["draft orders"])
_ERRORS = {404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}, 422: {"model": ErrorResponse}}
_QUOTE_ERRORS = {**_ERRORS, 503: {"model": ErrorResponse, "description": "quote_unavailable: retry shortly"}}


class DraftPayment(Strict):
    payment_method: str = Field(min_length=1, max_length=200, examples=["pm_card_visa"])
    payment_method_type: PaymentMethodType = "card"


class InvoiceNote(Strict):
    note: str = Field("", max_length=1000)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=DraftOrder, responses=_QUOTE_ERRORS)
async def create_draft(body: DraftCreate, response: Response, services: Services,
                       caller: CurrentCaller, idempotency_key: IdempotencyKey = None) -> DraftOrder:
    """A draft with a cart of its own and its quote (the cart quote). `unknown_sku` (404), `insufficient_stock`
    (409, more than can be promised), `draft_empty` (422); a replayed key answers the draft as it is now."""
    draft, created = await drafts.create_draft(services, drafts.CreateDraft(
        idempotency_key=required_key(idempotency_key), body=body, caller=caller))
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return draft


@router.get("/{draft_id}", response_model=DraftOrder, responses=_ERRORS)
async def get_draft(draft_id: str, services: Services) -> DraftOrder:
    return await drafts.view(services, draft_id)


@router.patch("/{draft_id}", response_model=DraftOrder, responses=_QUOTE_ERRORS)
async def update_draft(draft_id: str, body: DraftUpdate, services: Services, caller: CurrentCaller) -> DraftOrder:
    """Change lines (all replaced), addresses, email, speed or codes of an open or invoiced draft; quoted again.
    `draft_already_completed` / `draft_cancelled` (409) otherwise."""
    return await drafts.update_draft(services, draft_id, body, caller)


@router.post("/{draft_id}/quote", response_model=DraftOrder, responses=_QUOTE_ERRORS)
async def requote_draft(draft_id: str, services: Services) -> DraftOrder:
    """Quote again at today's prices, rates and tax (after the quote expired, before completing by phone)."""
    return await drafts.requote(services, draft_id)


@router.delete("/{draft_id}", response_model=DraftOrder, responses=_ERRORS)
async def cancel_draft(draft_id: str, services: Services, caller: CurrentCaller, reason: str = "") -> DraftOrder:
    """Cancel an open or invoiced draft (its invoice link stops working); audited with `reason`."""
    return await drafts.cancel_draft(services, draft_id, caller, reason[:1000])


@router.post("/{draft_id}/complete", status_code=status.HTTP_202_ACCEPTED, response_model=DraftOrder,
             responses=_ERRORS)
async def complete_draft(draft_id: str, body: DraftPayment, request: Request, services: Services,
                         caller: CurrentCaller, idempotency_key: IdempotencyKey = None) -> DraftOrder:
    """A phone order: start a normal checkout of the draft's cart, held to the draft's quote (`quote_expired`:
    re-quote first; a moved total fails the checkout `price_changed`). Follow it at `GET /checkouts/{checkout_id}`.
    Another key after completion: `draft_already_completed` (409)."""
    return await drafts.complete_draft(services, _completion(draft_id, body, request, caller, idempotency_key,
                                                             by_invoice=False))


@router.post("/{draft_id}/send-invoice", response_model=DraftOrder, responses={
    **_ERRORS, 503: {"model": ErrorResponse, "description": "draft_invoices_not_configured (no STOREFRONT_URL)"}})
async def send_invoice(draft_id: str, services: Services, caller: CurrentCaller,
                       body: InvoiceNote | None = None) -> DraftOrder:
    """Email the customer the draft's quote and a signed link, `STOREFRONT_URL/draft-orders/{id}?cart_token=…`;
    the storefront page posts the token as `X-Cart-Token` to `POST /draft-orders/{id}/checkout`. Once per quote:
    sent again it mails nothing new (re-quote to invoice anew). Suppressed addresses get no email."""
    draft, _ = await drafts.send_invoice(services, draft_id, caller, body.note if body else "")
    return draft


@router.post("/{draft_id}/checkout", status_code=status.HTTP_202_ACCEPTED, response_model=DraftOrder,
             responses=_ERRORS)
async def checkout_draft(draft_id: str, body: DraftPayment, request: Request, services: Services,
                         caller: CurrentCaller, proofs: RequestProofs,
                         idempotency_key: IdempotencyKey = None) -> DraftOrder:
    """The storefront's call behind an invoice link: a normal checkout of the invoiced draft, held to the invoiced
    total. A storefront key sends the link's token as `X-Cart-Token` (`draft_not_found` otherwise). Follow it at
    `GET /checkouts/{checkout_id}` with the same token (the order token comes with its completion)."""
    return await drafts.complete_draft(services, _completion(
        draft_id, body, request, caller, idempotency_key, by_invoice=True,
        may_use_cart=None if acts_for_anyone(caller) else proofs.may_use_cart))


def _shopper_ip(request: Request) -> str | None:
    """The invoice payer's address, for the checkout's fraud screen (a phone order's is support's own: None)."""
    try:
        return str(ipaddress.ip_address(request.client.host)) if request.client else None
    except ValueError:  # a trusted proxy reported something other than an address
        return None


def _completion(draft_id: str, body: DraftPayment, request: Request, caller, idempotency_key: str | None, *,
                by_invoice: bool, may_use_cart=None) -> drafts.CompleteDraft:
    return drafts.CompleteDraft(
        draft_id=draft_id, idempotency_key=required_key(idempotency_key), payment_method=body.payment_method,
        payment_method_type=body.payment_method_type, client_ip=_shopper_ip(request) if by_invoice else None,
        caller=caller, by_invoice=by_invoice, may_use_cart=may_use_cart)
