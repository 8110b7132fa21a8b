"""Plumbing of the console's web pages: session cookie, permissions, CSRF, signed flashes, templates.

Browsers cannot send a Bearer header from a form, so a staff API key is traded once at
``/console/login`` for a session cookie (``db.console``): HttpOnly, SameSite=Strict, Secure over
https. Every page and action then needs the permission its JSON route needs
(``api.access.CONSOLE_PERMISSIONS``), checked before its handler runs; pages hide what the role may
not do. Every form carries the session's CSRF token, checked on every POST. Flash messages travel
in the query string of the redirect after a POST, signed with that token so that a crafted link
cannot put words on a clerk's screen.
"""

import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

import structlog
from fastapi import Depends, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from api.access import CONSOLE_PERMISSIONS, console_permission
from api.deps import Engine
from api.errors import ApiError
from db import console as console_db
from db.console import ConsoleSession
from models.auth import Permission, lowest_role_with
from models.errors import DomainError, NotFound
from models.work_queues import QUEUE_TITLES
from models.money import Money

log = structlog.get_logger("orderflow.api.console")
COOKIE = "orderflow_console"
LOGIN_COOKIE = "orderflow_console_login"  # double-submit token of the login form (no session yet)
# Pages hold action buttons: never framed, never cached, no scripts at all.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY", "Cache-Control": "no-store", "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


def _money(amount: int | None, currency: str) -> str:
    return "" if amount is None else str(Money(amount=amount, currency=currency))


def _when(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _age(since: datetime | None, now: datetime) -> str:
    """How long something has waited, to the minute: "2 d 3 h", "3 h 20 min", "5 min"."""
    if since is None:
        return ""
    minutes = max(0, int((now - since).total_seconds() // 60))
    days, hours, mins = minutes // 1440, minutes % 1440 // 60, minutes % 60
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {mins} min" if hours else f"{mins} min"


templates = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates" / "console"),
                        autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
templates.filters.update(money=_money, when=_when, age=_age)
templates.globals.update(queue_titles=QUEUE_TITLES)


def may(session: ConsoleSession | None, route: str) -> bool:
    """Whether the signed-in key may use a console route, e.g. ``may(session, "GET /console/audit")``."""
    return session is not None and session.caller.may(CONSOLE_PERMISSIONS.get(route, Permission.UNCLASSIFIED))


def page(name: str, status: int = 200, **context) -> HTMLResponse:
    context.setdefault("session", None)
    context.setdefault("flash", None)
    session = context["session"]
    context["can"] = lambda route: may(session, route)  # templates show only what the role may do
    return HTMLResponse(templates.get_template(name).render(**context), status_code=status)


class LoginRequired(Exception):
    pass


class Forbidden(Exception):
    def __init__(self, session: ConsoleSession, permission: Permission):
        super().__init__(permission.value)
        self.session, self.permission = session, permission


class CsrfRejected(Exception):
    pass


def safe_next(target: str | None) -> str:
    """Only console paths: a login link must not become an open redirect."""
    if target and (target == "/console" or target.startswith(("/console/", "/console?"))) and "\\" not in target:
        return target
    return "/console"


class ConsoleRoute(APIRoute):
    """Turns the console's exceptions into pages (not JSON) and adds the security headers."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def console_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except LoginRequired:
                target = request.url.path if request.method == "GET" else "/console"
                response = RedirectResponse(f"/console/login?{urlencode({'next': target})}", status_code=303)
            except Forbidden as refused:
                response = page("message.html", 403, title="Not for your role", session=refused.session,
                                message=f"The {refused.session.caller.role} role may not do this (needs "
                                        f"{lowest_role_with(refused.permission)}).")
            except CsrfRejected:
                response = page("message.html", 403, title="Forbidden", session=None,
                                message="This form is stale or did not come from the console (CSRF check "
                                        "failed). Go back, reload the page and try again.")
            except RequestValidationError:  # e.g. an oversized form field
                response = page("message.html", 422, title="Invalid form", session=None,
                                message="Part of the form was too long or malformed. Go back and try again.")
            except NotFound as error:
                response = page("message.html", 404, title="Not found", message=error.message,
                                session=getattr(request.state, "console_session", None))
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        return console_handler


def now() -> datetime:
    return datetime.now(UTC)


async def current_session(request: Request, engine: Engine) -> ConsoleSession:
    """The signed-in member of staff, once their role may use this page or action (else a 403 page), or a
    redirect to the login page."""
    async with engine.connect() as conn:
        session = await console_db.find_session(conn, request.cookies.get(COOKIE), now())
    if session is None or not session.caller.may(Permission.CONSOLE):
        raise LoginRequired
    caller = session.caller
    structlog.contextvars.bind_contextvars(api_key_id=caller.key_id, api_key_name=caller.name,
                                           api_key_role=caller.role, via="console")
    request.state.console_session = session
    needed = console_permission(request.method, getattr(request.scope.get("route"), "path", ""))
    if not caller.may(needed):
        log.info("console forbidden", permission=needed.value, path=request.url.path)
        raise Forbidden(session, needed)
    return session


def tokens_match(given: str, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())


async def checked_session(session: Annotated[ConsoleSession, Depends(current_session)],
                          csrf: Annotated[str, Form(max_length=200)] = "") -> ConsoleSession:
    """The session, once the form proved it came from a console page (its CSRF token)."""
    if not tokens_match(csrf, session.csrf_token):
        raise CsrfRejected
    return session


# Pages take ``Session``; form posts take ``CheckedSession``.
Session = Annotated[ConsoleSession, Depends(current_session)]
CheckedSession = Annotated[ConsoleSession, Depends(checked_session)]


def _signature(session: ConsoleSession, kind: str, text: str) -> str:
    return hmac.new(session.csrf_token.encode(), f"{kind}\n{text}".encode(), hashlib.sha256).hexdigest()[:32]


def redirect_with_flash(session: ConsoleSession, path: str, *, ok: str | None = None,
                        error: str | None = None) -> RedirectResponse:
    """POST/redirect/GET: the message rides in the query string, signed for this session."""
    kind, text = ("error", error) if error is not None else ("ok", ok or "")
    query = urlencode({kind: text, "sig": _signature(session, kind, text)})
    return RedirectResponse(f"{path}{'&' if '?' in path else '?'}{query}", status_code=303)


def back_to(target: str, default: str) -> str:
    """Where a form asked to return after its action (a console page only), else ``default``."""
    return safe_next(target) if target else default


def flash(request: Request, session: ConsoleSession) -> dict | None:
    """The message of the redirect that led here, if its signature holds."""
    for kind in ("error", "ok"):
        text = request.query_params.get(kind)
        if text is not None and tokens_match(request.query_params.get("sig", ""), _signature(session, kind, text)):
            return {"kind": kind, "text": text[:1000]}
    return None


async def flashed(session: ConsoleSession, back: str, refused: str, act, *, action: str,
                  **context) -> RedirectResponse:
    """Run a console action and go back to ``back`` with its outcome as the flash message.

    ``act`` returns the success message (or a ready redirect, for input the form should correct). A
    refusal by the rules shows its code's friendly text; anything else is logged and shown as such.
    """
    try:
        outcome = await act()
    except (ApiError, DomainError) as error:
        return redirect_with_flash(session, back, error=f"{refused}: {_message(error)}")
    except Exception:
        log.exception(f"console {action} failed", **context)
        return redirect_with_flash(session, back, error=_UNEXPECTED)
    return outcome if isinstance(outcome, RedirectResponse) else redirect_with_flash(session, back, ok=outcome)


_UNEXPECTED = "Something unexpected went wrong; it was logged. Reload the page to see what happened."
FRIENDLY = {
    "refund_exceeds_captured": "that is more than can still be refunded (see Refundable now).",
    "idempotency_key_reused": "this form was already used for a different refund; reload the page.",
}


def _message(error: ApiError | DomainError) -> str:
    code = error.code
    return f"{FRIENDLY.get(code, error.message)} [{code}]"


def input_problem(error: ValueError) -> str:
    """A form's invalid input in a sentence (pydantic's errors name the field)."""
    errors = getattr(error, "errors", None)
    if callable(errors):
        first = errors()[0]
        return f"{'/'.join(str(p) for p in first['loc']) or 'input'}: {first['msg']}"
    return str(error)
