"""Typed FastAPI dependencies: settings, database session, and the authenticated caller."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.errors import ApiError
from core.db import session_scope
from core.keys import Role, find_key, hash_key
from core.settings import Settings

__all__ = [
    "CONSOLE_COOKIE",
    "EngineDep",
    "KeyCache",
    "Principal",
    "SessionDep",
    "SettingsDep",
    "WriteSessionDep",
    "csrf_token",
    "get_session",
    "lookup_key",
    "require",
    "same_origin_write",
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
# scope="function": the transaction commits before the response is sent, so a 2xx means the
# change is durable; FastAPI's default runs a yield dependency's exit after the response.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_write_session(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Session]:
    """For the rare GET that records something (an inbound decision is stored and audited)."""
    with session_scope(engine) as session:
        yield session


WriteSessionDep = Annotated[Session, Depends(get_write_session, scope="function")]


@dataclass(frozen=True)
class Principal:
    """Who is calling: the API key's id and role. `actor` is what the audit log records."""

    key_id: str
    role: Role

    @property
    def actor(self) -> str:
        return f"key:{self.key_id}"


class KeyCache:
    """Principals by key hash, each kept `ttl` seconds: a revoked key stops working that soon.

    Looking a key up costs a database read per request otherwise; a few seconds of caching
    removes nearly all of them, and `cjo keys revoke` (another process) needs no signal to
    reach every API process. `clock` is injectable so tests need not sleep.
    """

    def __init__(
        self,
        ttl: float = 5.0,
        *,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self._entries: dict[str, tuple[Principal, float]] = {}
        self._lock = threading.Lock()

    def get(self, key_hash: str) -> Principal | None:
        with self._lock:
            found = self._entries.get(key_hash)
            if found is None:
                return None
            principal, expires = found
            if self.clock() >= expires:
                del self._entries[key_hash]
                return None
            return principal

    def put(self, key_hash: str, principal: Principal) -> None:
        with self._lock:
            now = self.clock()
            if len(self._entries) >= self.max_entries:
                self._entries = {k: v for k, v in self._entries.items() if v[1] > now}
                if len(self._entries) >= self.max_entries:
                    return
            self._entries[key_hash] = (principal, now + self.ttl)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def lookup_key(request: Request, token: str) -> Principal | None:
    """The principal of an active key, through the app's short-lived cache; None if unknown
    or revoked (revocations show within the cache's `ttl`)."""
    cache: KeyCache = request.app.state.key_cache
    key_hash = hash_key(token)
    principal = cache.get(key_hash)
    if principal is None:
        with Session(request.app.state.read_engine) as session:
            row = find_key(session, token)
        if row is None:
            return None
        principal = Principal(key_id=row.id, role=Role(row.role))
        cache.put(key_hash, principal)
    return principal


CONSOLE_COOKIE = "cjo_key"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token(key: str) -> str:
    """A per-key token for console forms and scripts; without the HttpOnly cookie's key nobody
    can compute it."""
    return hmac.new(key.encode("utf-8"), b"cjo-console-csrf", hashlib.sha256).hexdigest()[:40]


def _presented_key(request: Request) -> tuple[str | None, bool]:
    """The key the caller presented, and whether it came from the console's cookie."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip(), False
    cookie = request.cookies.get(CONSOLE_COOKIE)
    return (cookie, True) if cookie else (None, False)


def _origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def same_origin_write(request: Request, key: str) -> bool:
    """Whether a write carried by the console cookie comes from the console itself.

    A browser attaches the cookie to cross-site requests too; the page that sent one is known by
    its Origin (or, when a browser leaves Origin out, its Referer), and the console's own
    scripts may instead send the key's CSRF token in `X-CSRF-Token`.
    """
    sent = request.headers.get("x-csrf-token")
    if sent is not None:
        return hmac.compare_digest(sent, csrf_token(key))
    ours = f"{request.url.scheme}://{request.url.netloc}"
    origin = request.headers.get("origin")
    if origin is not None:
        return origin == ours
    referer = request.headers.get("referer")
    return referer is not None and _origin_of(referer) == ours


def authenticate(request: Request) -> Principal:
    """Resolve the bearer key (or the console's cookie) to a principal, or 401.

    A write authenticated by the cookie rather than a Bearer header must come from the console
    (same origin or its CSRF token), or it is refused with 403 before anything runs.
    """
    token, from_cookie = _presented_key(request)
    if token is None:
        raise ApiError(
            401,
            "missing API key: send 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if from_cookie and request.method not in SAFE_METHODS and not same_origin_write(request, token):
        raise ApiError(
            403,
            "cross-site request refused: a write signed in by the console cookie must come "
            "from the console (same Origin or X-CSRF-Token); API clients send a Bearer key",
        )
    principal = lookup_key(request, token)
    if principal is None:
        raise ApiError(401, "unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"})
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
