"""Uniform JSON errors: `{"error": {"code", "message", "fields"?}, "request_id"}`.

A 422 names each bad field (`body.userId`) and why, so API callers can fix their payloads.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.observability import request_id_var

__all__ = ["ApiError", "error_body", "field_errors", "install_error_handlers"]

_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "unavailable",
}


class ApiError(HTTPException):
    """An HTTP error with a machine-readable code and optional field errors."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        code: str | None = None,
        fields: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status_code=status_code, detail=message, headers=headers)
        self.code = code or _CODES.get(status_code, "error")
        self.fields = fields


def error_body(
    status: int,
    message: str,
    *,
    code: str | None = None,
    fields: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code or _CODES.get(status, "error"), "message": message}
    if fields is not None:
        err["fields"] = fields
    return {"error": err, "request_id": request_id_var.get()}


def field_errors(errors: Any, prefix: tuple[str | int, ...] = ()) -> list[dict[str, str]]:
    """Turn pydantic error dicts into `[{"field": "body.userId", "reason": "..."}]`."""
    out = []
    for err in errors:
        loc = [*prefix, *err.get("loc", ())]
        out.append({"field": ".".join(str(p) for p in loc), "reason": err.get("msg", "invalid")})
    return out


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = field_errors(exc.errors())
        summary = "; ".join(f"{f['field']}: {f['reason']}" for f in fields[:5])
        return JSONResponse(
            status_code=422, content=error_body(422, f"invalid request: {summary}", fields=fields)
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = getattr(exc, "code", None)
        fields = getattr(exc, "fields", None)
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return JSONResponse(
            status_code=exc.status_code,
            content=error_body(exc.status_code, message, code=code, fields=fields),
            headers=getattr(exc, "headers", None),
        )
