"""API-key authentication and role checks, as one dependency every route runs.

``authorize`` looks the route up in ``api.access``: public routes pass untouched, all others
need a live key (``Authorization: Bearer <key>`` or ``X-API-Key``) whose role holds the
route's permission. Routes that act on someone's behalf take ``caller: CurrentCaller``.
"""

import ipaddress
from datetime import UTC, datetime, timedelta
from typing import Annotated

import structlog
from fastapi import Depends, Request
from fastapi.params import Depends as DependsParam
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncConnection

from api.access import PUBLIC, permission_for
from api.deps import AppSettings, Engine
from api.errors import ApiError
from config import Settings
from db import api_keys, auth_failures
from models.auth import Caller, Permission, lowest_role_with

__all__ = ["Caller", "CurrentCaller", "TooManyFailures", "authenticate", "authorize", "require"]

log = structlog.get_logger("orderflow.api.auth")

# auto_error=False: we answer missing keys ourselves, with our error body.
_bearer = HTTPBearer(auto_error=False, description="An orderflow API key: `Authorization: Bearer ofk_…`")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The same key, for clients "
                               "that cannot set Authorization")


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


def _forbidden(caller: Caller, permission: Permission) -> ApiError:
    return ApiError(403, "forbidden", f"the {caller.role} role may not do this (needs {lowest_role_with(permission)})",
                    {"permission": permission.value, "role": caller.role})


def client_address(request: Request) -> str:
    """The peer as our trusted proxies report it (TRUSTED_PROXIES, api/app.py): whom failures count against."""
    try:
        return str(ipaddress.ip_address(request.client.host)) if request.client else auth_failures.UNKNOWN_ADDRESS
    except ValueError:  # a proxy that reported something other than an address
        return auth_failures.UNKNOWN_ADDRESS


class TooManyFailures(ApiError):
    def __init__(self, retry_after: int):
        super().__init__(429, "too_many_failed_logins", f"too many failed authentications from this address; "
                         f"retry in {retry_after} s", headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


async def authenticate(conn: AsyncConnection, request: Request, settings: Settings, secret: str) -> Caller | None:
    """The live key ``secret`` names, or None (a failure counted against the client's address).

    An address that used up its failures is refused (``TooManyFailures``) before its key is even
    looked at, so guessing stops being possible rather than merely answered differently. Only a
    failure writes; a success reads its address's row, at most one.
    """
    address, now = client_address(request), datetime.now(UTC)
    window = timedelta(seconds=settings.auth_failure_window_seconds)
    wait = await auth_failures.retry_after(conn, address, now, limit=settings.auth_failure_limit, window=window)
    if wait is not None:
        log.warning("authentication throttled", client_address=address, retry_after=wait)
        raise TooManyFailures(wait)
    caller = await api_keys.authenticate(conn, secret, now)
    if caller is None:
        failures = await auth_failures.record_failure(conn, address, now, window=window)
        # The secret itself is never logged.
        log.warning("authentication failed", client_address=address, failures=failures, path=request.url.path)
    return caller


async def authorize(
    request: Request, engine: Engine, settings: AppSettings,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    x_api_key: Annotated[str | None, Depends(_api_key_header)],
) -> Caller | None:
    """The calling key, once it is known to be live and allowed here; None on public routes."""
    route = request.scope.get("route")
    permission = permission_for(request.method, getattr(route, "path", ""))
    if permission is PUBLIC:
        return None
    secret = (bearer.credentials if bearer else x_api_key or "").strip()
    if not secret:
        raise _unauthorized("send an API key: `Authorization: Bearer <key>` or `X-API-Key: <key>`")
    async with engine.begin() as conn:  # committed before answering: a refused key's failure counts
        caller = await authenticate(conn, request, settings, secret)
    if caller is None:
        raise _unauthorized("the API key is invalid or revoked")
    structlog.contextvars.bind_contextvars(api_key_id=caller.key_id, api_key_name=caller.name,
                                           api_key_role=caller.role)
    if not caller.may(permission):
        log.info("forbidden", permission=permission.value)
        raise _forbidden(caller, permission)
    return caller


async def current_caller(caller: Annotated[Caller | None, Depends(authorize)]) -> Caller:
    if caller is None:  # a public route asked who is calling: nobody has proven it
        raise _unauthorized("this route does not identify its caller")
    return caller


# Same ``authorize`` as the app-wide dependency, so FastAPI's per-request cache runs it once.
CurrentCaller = Annotated[Caller, Depends(current_caller)]


def require(permission: Permission) -> DependsParam:
    """A check beyond the route's own, e.g. ``dependencies=[require(Permission.API_KEYS)]``."""

    async def check(caller: CurrentCaller) -> Caller:
        if not caller.may(permission):
            raise _forbidden(caller, permission)
        return caller

    return Depends(check)
