"""Every error leaves the API as {"error": {"code", "message", "details"?}}.

Client mistakes are 4xx with a stable code; only our own faults are 500.
"""

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from models.errors import DomainError
from services.errors import Refused

log = structlog.get_logger("orderflow.api")

HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type",
              422: "validation_error", 429: "too_many_requests"}


def error_body(code: str, message: str, details=None) -> dict:
    body = {"code": code, "message": message}
    if details:
        body["details"] = details
    return {"error": body}


# The API's own refusals (auth, input the schema cannot express) are the service layer's: one type, one answer.
ApiError = Refused


def _validation_details(exc: RequestValidationError) -> list[dict]:
    return [
        {"loc": [str(part) for part in err.get("loc", ())], "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError):
        return JSONResponse(error_body(exc.code, exc.message, exc.details or None), status_code=exc.http_status)

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError):
        return JSONResponse(error_body(exc.code, exc.message, exc.details or None), status_code=exc.status,
                            headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError):
        details = _validation_details(exc)
        if any(d["type"] == "json_invalid" for d in details):
            return JSONResponse(error_body("malformed_json", "the request body is not valid JSON", details), 400)
        return JSONResponse(error_body("validation_error", "the request is invalid", details), 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException):
        code = HTTP_CODES.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(DataError)
    async def data_error(request: Request, exc: DataError):
        # SQLSTATE class 22 (a value PostgreSQL cannot take: NUL, out of range, …) that input validation
        # let through: the client's value, so a 4xx; logged so the validation gap gets closed.
        log.warning("value refused by the database", path=request.url.path, error=str(exc.orig)[:200])
        return JSONResponse(error_body("invalid_value", "a value in the request cannot be stored"), status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unhandled error", path=request.url.path)
        return JSONResponse(error_body("internal_error", "an unexpected error occurred"), status_code=500)
