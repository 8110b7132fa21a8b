"""Unsubscribe from marketing email (abandoned-cart reminders): public pages behind signed links.

``GET /unsubscribe?email=…&token=…`` only shows a confirmation page with a button: mail scanners
prefetch links, so a GET never unsubscribes. ``POST /unsubscribe`` records the suppression, from
that page's form or as an RFC 8058 one-click request (body ``List-Unsubscribe=One-Click``, the
address and token in the query string of the List-Unsubscribe URL). A missing or wrong token is
``400 invalid_unsubscribe_token`` and records nothing.
"""

from html import escape

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.deps import AppSettings, Engine, ReadConn
from db import suppressions
from models.errors import DomainError
from models.unsubscribe import ONE_CLICK, PATH, normalise_email

router = APIRouter(tags=["unsubscribe"], include_in_schema=False)
log = structlog.get_logger("orderflow.api.unsubscribe")

MAX_EMAIL = 320
# The page URL holds the token: never sent on as a referrer, never cached, never framed, no scripts.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY", "Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff", "X-Robots-Tag": "noindex",
}


class InvalidUnsubscribeToken(DomainError):
    code = "invalid_unsubscribe_token"
    http_status = 400


def _checked(settings, email: str, token: str) -> str:
    """The normalised address, once its token proves we sent it this link."""
    if not email or not token:
        raise InvalidUnsubscribeToken("the unsubscribe link is incomplete: it needs email and token")
    address = normalise_email(email)
    if len(address) > MAX_EMAIL or not settings.unsubscribe_links.verify(address, token):
        raise InvalidUnsubscribeToken("the unsubscribe link is not valid for this address")
    return address


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(title)}</title>'
            f'<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}}'
            f'button{{font:inherit;padding:.4rem 1rem}}</style></head>'
            f'<body><h1>{escape(title)}</h1>{body}</body></html>')
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _refusal_page(error: InvalidUnsubscribeToken) -> HTMLResponse:
    """A recipient who clicked a broken link reads a page, not JSON; the code stays visible for support."""
    return _page("This unsubscribe link does not work",
                 f"<p>{escape(error.message)}.</p><p>Please use the link from the most recent email we sent you. "
                 f"(<code>{escape(error.code)}</code>)</p>", status=400)


@router.get(PATH)
async def confirm_page(request: Request, conn: ReadConn, settings: AppSettings, email: str = "",
                       token: str = "") -> HTMLResponse:
    """A confirmation page with one button; nothing is recorded here."""
    try:
        address = _checked(settings, email, token)
    except InvalidUnsubscribeToken as error:
        if _wants_html(request):
            return _refusal_page(error)
        raise
    if await suppressions.is_suppressed(conn, address):
        return _page("You are unsubscribed", f"<p>{escape(address)} gets no more cart reminders from us.</p>")
    form = (f'<form method="post" action="unsubscribe">'
            f'<input type="hidden" name="email" value="{escape(address)}">'
            f'<input type="hidden" name="token" value="{escape(token)}">'
            f'<button type="submit">Unsubscribe</button></form>')
    return _page("Unsubscribe from cart reminders",
                 f"<p>Stop sending reminder emails about carts left behind to {escape(address)}?</p>{form}")


@router.post(PATH)
async def unsubscribe(request: Request, engine: Engine, settings: AppSettings) -> HTMLResponse:
    """Record the suppression (idempotent: a repeat answers the same)."""
    async with request.form() as form:  # url-encoded or multipart; empty for other bodies. Fields win over the query.
        fields = {name: value for name in ("email", "token", "List-Unsubscribe")
                  if isinstance(value := form.get(name) or request.query_params.get(name), str)}
    try:
        address = _checked(settings, fields.get("email", ""), fields.get("token", ""))
    except InvalidUnsubscribeToken as error:
        if _wants_html(request):
            return _refusal_page(error)
        raise
    source = "one_click" if f"List-Unsubscribe={fields.get('List-Unsubscribe')}" == ONE_CLICK else "unsubscribe_page"
    async with engine.begin() as conn:
        added = await suppressions.suppress(conn, address, source=source)
    log.info("email unsubscribed", source=source, new=added)  # the address itself stays out of the logs
    return _page("You are unsubscribed", f"<p>{escape(address)} gets no more cart reminders from us.</p>")
