"""Uniform JSON errors: `{"error": {"code", "message", "fields"?}, "request_id"}`.

A 422 names each bad field (`body.userId`) and why, so API callers can fix their payloads.
An unexpected exception answers the same shape with 500 and the request id (logged with its
traceback under that id), never a stack trace or exception text in the response.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.observability import request_id_var

__all__ = [
    "ApiError",
    "UnhandledErrorMiddleware",
    "error_body",
    "field_errors",
    "install_error_handlers",
]

log = logging.getLogger("cjo.errors")

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
    500: "internal_error",
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
        if err.get("type") == "json_invalid":  # loc ends in a character offset, not a field
            where = loc[-1] if loc and isinstance(loc[-1], int) else None
            detail = (err.get("ctx") or {}).get("error") or err.get("msg", "invalid JSON")
            reason = f"invalid JSON at character {where}: {detail}" if where is not None else detail
            out.append({"field": "body", "reason": reason})
            continue
        out.append({"field": ".".join(str(p) for p in loc), "reason": err.get("msg", "invalid")})
    return out


class UnhandledErrorMiddleware:
    """Any exception no handler turned into a response: log it, answer a uniform JSON 500.

    Installed inside the request-context middleware, so the log line and the answer carry the
    request id. A response already under way (a stream) cannot change its status: it is cut.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception(
                "unhandled error",
                extra={"fields": {"method": scope.get("method"), "path": scope.get("path")}},
            )
            if started:
                raise
            response = JSONResponse(
                status_code=500,
                content=error_body(500, "internal error; quote the request id when you report it"),
            )
            await response(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    """Uniform JSON for validation errors, HTTP errors and anything unexpected."""
    app.add_middleware(UnhandledErrorMiddleware)

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
