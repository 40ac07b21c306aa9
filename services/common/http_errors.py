"""How every service answers an error: one JSON shape (`ErrorBody`), a 4xx naming the failing fields,
503 with Retry-After when a dependency is out, and never a traceback.

`install(app)` registers the handlers; routes document their errors with `responses(...)`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from schemas.models import FieldError
from services.common import db
from services.common import logging as log

RETRY_AFTER_S = 5


class ErrorBody(BaseModel):
    """Every error answer."""

    error: str = Field(description="What went wrong, in a sentence")
    errors: list[FieldError] = Field(default_factory=list, description="The failing fields, if any")
    rejection_ref: str | None = Field(None, description="The rejected submission is kept under this reference")
    detail: Any = Field(None, description="The same, in FastAPI's default shape, for clients that read it")


_DESCRIPTIONS = {
    400: "Not a JSON object (not UTF-8, not JSON, nested too deeply); the body is kept",
    401: "No valid API key: send `Authorization: Bearer <key>`",
    403: "Not allowed",
    404: "No such case for this partner",
    413: "Body over 64 KiB; refused before it is read whole",
    422: "Field errors, each with its dotted path",
    503: "A dependency (the database) is unavailable or saturated: retry after `Retry-After` seconds",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error codes, all with ErrorBody (503 with its Retry-After header)."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        out[code] = {"model": ErrorBody, "description": _DESCRIPTIONS[code]}
        if code == 503:
            out[code]["headers"] = {"Retry-After": {"description": "Seconds to wait before retrying",
                                                    "schema": {"type": "integer"}}}
    return out


def error_response(status: int, error: str, *, errors: list[FieldError] | None = None,
                   rejection_ref: str | None = None, detail: Any = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body = ErrorBody(error=error, errors=errors or [], rejection_ref=rejection_ref,
                     detail=error if detail is None else detail)
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


def unavailable(reason: str) -> JSONResponse:
    return error_response(503, reason, headers={"Retry-After": str(RETRY_AFTER_S)})


def _text(value: object, limit: int = 500) -> str:
    """Encodable as UTF-8 whatever it came from (an unpaired surrogate would make the response fail)."""
    return str(value)[:limit].encode("utf-8", "backslashreplace").decode("utf-8")


def _loc(parts: tuple[Any, ...]) -> str:
    # ("body", "share_contact") → "share_contact", as in a submission's errors; ("query", "external_id") stays.
    if len(parts) > 1 and parts[0] == "body":
        parts = parts[1:]
    return _text(".".join(str(p) for p in parts) or "body", 200)


async def _http_exception(_: Request, exc: HTTPException) -> JSONResponse:
    text = exc.detail if isinstance(exc.detail, str) else "invalid request" if exc.status_code == 422 else "refused"
    return error_response(exc.status_code, _text(text), detail=exc.detail, headers=getattr(exc, "headers", None))


async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
    # The input is never echoed: it may be large, or hold what a response cannot encode.
    errors = [FieldError(loc=_loc(tuple(e.get("loc", ()))), msg=_text(e.get("msg", "")), type=_text(e.get("type", "")))
              for e in exc.errors()]
    return error_response(422, "invalid request", errors=errors)


async def _pool_timeout(_: Request, exc: db.PoolTimeout) -> JSONResponse:
    log.get().warning("http_unavailable", reason="pool_timeout", error=str(exc))
    return unavailable("the database is saturated; retry shortly")


async def _database_down(_: Request, exc: Exception) -> JSONResponse:
    log.get().warning("http_unavailable", reason="database", error=type(exc).__name__)
    return unavailable("the database is unavailable; retry shortly")


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.get().error("http_unhandled", error=type(exc).__name__)
    return error_response(500, "internal error")


def install(app: FastAPI) -> FastAPI:
    app.add_exception_handler(HTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(db.PoolTimeout, _pool_timeout)
    for exc_type in db.TRANSIENT:
        app.add_exception_handler(exc_type, _database_down)
    app.add_exception_handler(Exception, _unexpected)
    return app
