"""ASGI middleware: per-request context, access log and latency metric; limits on what a request may carry."""

import json
import re
import time
import uuid
from urllib.parse import unquote_to_bytes

import structlog
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_body
from api.metrics import observe_request

log = structlog.get_logger("orderflow.api.access")


class RequestContextMiddleware:
    """Binds the request id (``X-Request-ID`` or a new one) for structlog, logs one access line and
    observes the latency histogram under the route template."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:100] or uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status_holder = {}

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode("latin-1")))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            status = status_holder.get("status", 500)  # no response started: the error handler answers 500
            # The router leaves the matched route in the scope; its template keeps the labels bounded.
            observe_request(getattr(scope.get("route"), "path", None), scope["method"], status, elapsed)
            log.info("request", method=scope["method"], path=scope["path"], status=status,
                     duration_ms=round(elapsed * 1000, 1))
            structlog.contextvars.clear_contextvars()


# A JSON string escape for U+0000 (not preceded by an escaping backslash).
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_NUL_CHECKS = {
    b"json": lambda body: _JSON_NUL.search(body) is not None,
    b"application/x-www-form-urlencoded": lambda body: b"\x00" in unquote_to_bytes(body),
}


class InputGuardMiddleware:
    """Refuses, before any route runs, what no route can take:

    - bodies over ``max_body_bytes`` (or the path's own limit in ``limits``): 413 ``payload_too_large``,
      from Content-Length up front or while a chunked body streams in;
    - NUL characters in the path, the query, a JSON or a form body: 422 ``validation_error``. PostgreSQL
      text cannot hold them, so they would otherwise fail deep inside a transaction or an activity.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int, limits: dict[str, int] | None = None):
        self.app, self.max_body_bytes, self.limits = app, max_body_bytes, limits or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"] or b"\x00" in unquote_to_bytes(scope.get("query_string", b"")):
            await _reject(send, 422, "validation_error", "NUL characters are not accepted")
            return
        limit = self.limits.get(scope["path"], self.max_body_bytes)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"").decode("latin-1")
        if declared.isdigit() and int(declared) > limit:
            await _reject(send, 413, "payload_too_large", f"the request body exceeds {limit} bytes")
            return
        receive = _limited(receive, limit)
        media_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        has_nul = _NUL_CHECKS.get(b"json" if media_type.endswith(b"json") else media_type)
        if has_nul:  # small, structured bodies: read them here (within the limit), check, hand them on
            try:
                body = await _read_all(receive)
            except HTTPException:
                await _reject(send, 413, "payload_too_large", f"the request body exceeds {limit} bytes")
                return
            if has_nul(body):
                await _reject(send, 422, "validation_error", "NUL characters are not accepted")
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send)


def _limited(receive: Receive, limit: int) -> Receive:
    """Counts the body as it arrives; past ``limit`` the route's read fails with 413 (FastAPI re-raises
    HTTPException from body parsing, and the error handlers render it)."""
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise HTTPException(413, f"the request body exceeds {limit} bytes")
        return message

    return wrapped


async def _read_all(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def wrapped() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # then http.disconnect, when it comes

    return wrapped


async def _reject(send: Send, status: int, code: str, message: str) -> None:
    payload = json.dumps(error_body(code, message)).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})
