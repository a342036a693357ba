"""Typed FastAPI dependencies: settings, database session, and the authenticated caller."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.errors import ApiError
from core.db import session_scope
from core.keys import Role, find_key
from core.settings import Settings

__all__ = [
    "EngineDep",
    "Principal",
    "SessionDep",
    "SettingsDep",
    "WriteSessionDep",
    "get_session",
    "require",
]


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the handler returns, rolled back on error.

    GET and HEAD requests read through the read-only engine (on SQLite: no write lock, so
    pages and profile lookups stay fast while events are being processed).
    """
    state = request.app.state
    reading = request.method in ("GET", "HEAD")
    engine: Engine = state.read_engine if reading else state.engine
    with session_scope(engine) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
EngineDep = Annotated[Engine, Depends(get_engine)]
SessionDep = Annotated[Session, Depends(get_session)]


def get_write_session(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Session]:
    """For the rare GET that records something (an inbound decision is stored and audited)."""
    with session_scope(engine) as session:
        yield session


WriteSessionDep = Annotated[Session, Depends(get_write_session)]


@dataclass(frozen=True)
class Principal:
    """Who is calling: the API key's id and role. `actor` is what the audit log records."""

    key_id: str
    role: Role

    @property
    def actor(self) -> str:
        return f"key:{self.key_id}"


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    cookie = request.cookies.get("cjo_key")
    return cookie or None


def authenticate(request: Request) -> Principal:
    """Resolve the bearer key (or the console's cookie) to a principal, or 401."""
    token = _bearer(request)
    if token is None:
        raise ApiError(
            401,
            "missing API key: send 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    cache: dict[str, Principal] = request.app.state.key_cache
    principal = cache.get(token)
    if principal is None:
        with Session(request.app.state.read_engine) as session:
            row = find_key(session, token)
        if row is None:
            raise ApiError(
                401, "unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"}
            )
        principal = Principal(key_id=row.id, role=Role(row.role))
        if len(cache) < 10_000:
            cache[token] = principal
    request.state.principal = principal
    return principal


def require(*roles: Role) -> Callable[..., Principal]:
    """Dependency factory: the caller must hold one of `roles` (admin may do everything)."""
    allowed = frozenset(roles) | {Role.admin}

    def dependency(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if principal.role not in allowed:
            names = ", ".join(sorted(r.value for r in allowed))
            raise ApiError(403, f"role '{principal.role.value}' may not do this; needs: {names}")
        return principal

    dependency.allowed_roles = allowed  # type: ignore[attr-defined]  # read by the role tests
    return dependency


AdminDep = Annotated[Principal, Depends(require(Role.admin))]
MarketerDep = Annotated[Principal, Depends(require(Role.marketer))]
ReviewerDep = Annotated[Principal, Depends(require(Role.reviewer))]
ServiceDep = Annotated[Principal, Depends(require(Role.service))]
