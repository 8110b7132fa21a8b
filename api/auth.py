"""API-key authentication and role checks, as one dependency every route runs.

``authorize`` looks the route up in ``api.access``: public routes pass untouched, all others
need a live key (``Authorization: Bearer <key>`` or ``X-API-Key``) whose role holds the
route's permission. Routes that act on someone's behalf take ``caller: CurrentCaller``.
"""

from datetime import UTC, datetime
from typing import Annotated

import structlog
from fastapi import Depends, Request
from fastapi.params import Depends as DependsParam
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.access import PUBLIC, permission_for
from api.deps import Engine
from api.errors import ApiError
from db import api_keys
from models.auth import Caller, Permission, lowest_role_with

__all__ = ["Caller", "CurrentCaller", "authorize", "require"]

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


async def authorize(
    request: Request, engine: Engine,
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
    async with engine.begin() as conn:
        caller = await api_keys.authenticate(conn, secret, datetime.now(UTC))
    if caller is None:
        log.info("api key refused")  # the secret itself is never logged
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
