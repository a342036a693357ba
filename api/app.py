"""The FastAPI application factory. Routers are found in api/routes/ (one module per resource)."""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol
from urllib.parse import unquote_to_bytes

from fastapi import FastAPI
from sqlalchemy.engine import Engine
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import routes
from api.deps import KeyCache
from api.errors import error_body, install_error_handlers
from api.observability import RequestContextMiddleware, configure_logging
from core.db import make_engine, migrate, session_scope
from core.keys import Role, create_key
from core.settings import Settings, get_settings

__all__ = ["BackgroundService", "create_app"]

log = logging.getLogger("cjo.app")


class BackgroundService(Protocol):
    """Something that runs beside the API (stream worker, outbox dispatcher, scheduler)."""

    name: str

    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class BodyLimitMiddleware:
    """Refuse bodies over `max_bytes` with a clear 413 before anything parses them.

    A declared Content-Length over the limit is refused without reading a byte. A chunked
    upload is read only up to the limit: the moment it passes, the request is refused and the
    rest is never read, so an endless body costs at most `max_bytes` of memory.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None and length.isdigit():
            if int(length) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        if scope["method"] not in {"POST", "PUT", "PATCH"}:
            await self.app(scope, receive, send)
            return
        received: list[Message] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            received.append(message)
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return received.pop(0) if received else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(
            status_code=413,
            content=error_body(
                413,
                f"request body larger than {self.max_bytes} bytes; split it (e.g. /v1/batch)",
            ),
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


class NulInUrlMiddleware:
    """Refuse a URL whose path or query holds a NUL character (%00) with a clear 400.

    No id, slug or filter of cjo contains one, and PostgreSQL cannot even compare text with
    it: it would surface as a 500 from whichever query saw it first.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            query = unquote_to_bytes(scope.get("query_string", b""))
            where = None
            if "\x00" in scope.get("path", ""):
                where = "path"
            elif b"\x00" in query:
                where = "query"
            if where is not None:
                response = JSONResponse(
                    status_code=400,
                    content=error_body(
                        400,
                        f"the URL {where} contains a NUL character (%00)",
                        fields=[{"field": where, "reason": "must not contain NUL"}],
                    ),
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


CONSOLE_HEADERS = (
    (b"x-frame-options", b"DENY"),  # approve/pause pages must not be framed (clickjacking)
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),  # pages full of customer data stay out of caches
)


class ConsoleHeadersMiddleware:
    """Security headers on every console response (`/console/...`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith("/console"):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in CONSOLE_HEADERS if n not in names]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)


def discover_routers() -> list[Any]:
    """Every `api/routes/<name>.py` that defines `router`, in name order."""
    found = []
    for info in sorted(pkgutil.iter_modules(routes.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{routes.__name__}.{info.name}")
        router = getattr(module, "router", None)
        if router is not None:
            found.append(router)
    return found


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    services: Sequence[BackgroundService] = (),
    run_migrations: bool = True,
) -> FastAPI:
    """Build the app. Tests pass their own settings/engine; `cjo serve` passes services."""
    settings = settings or get_settings()
    settings.ensure_data_dir()
    engine = engine or make_engine(settings.resolved_database_url)
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if run_migrations:
            migrate(engine)
        if settings.admin_key:
            with session_scope(engine) as session:
                create_key(
                    session,
                    role=Role.admin,
                    name="bootstrap",
                    actor="system",
                    key=settings.admin_key,
                )
        for service in services:
            await service.start()
            log.info("service started", extra={"fields": {"service": service.name}})
        try:
            yield
        finally:
            for service in reversed(services):
                await service.stop()

    app = FastAPI(
        title="cjo",
        version="0.1.0",
        summary="Agentic customer journey orchestrator",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.read_engine = (
        make_engine(engine.url.render_as_string(hide_password=False), read_only=True)
        if engine.dialect.name == "sqlite"
        else engine
    )
    app.state.key_cache = KeyCache(ttl=settings.key_cache_seconds)
    app.state.services = list(services)
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(NulInUrlMiddleware)
    app.add_middleware(ConsoleHeadersMiddleware)
    app.add_middleware(RequestContextMiddleware)
    for router in discover_routers():
        app.include_router(router)
    return app
