"""Console sign-in: an API key kept in an HttpOnly cookie, CSRF tokens, and who may see what.

The cookie holds the key itself (`cjo_key`, which `api.deps.authenticate` also accepts), so the
console needs no session table: revoking the key signs the browser out. POST forms carry a token
derived from the key (HMAC), which a cross-site page cannot read or compute.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy.engine import Engine

from api.deps import CONSOLE_COOKIE, Principal, csrf_token, get_engine, lookup_key
from core.keys import Role

__all__ = [
    "COOKIE",
    "PAGES",
    "ConsoleUser",
    "UserDep",
    "csrf_token",
    "current_user",
    "may",
    "verify_csrf",
]

COOKIE = CONSOLE_COOKIE

# What each role may see or do in the console, after CONTRACT.md's API table (admin: all).
ABILITIES: dict[str, frozenset[Role]] = {
    "reviews": frozenset({Role.reviewer}),
    "customers": frozenset({Role.marketer}),
    "journeys": frozenset({Role.marketer}),
    "outbox": frozenset({Role.marketer}),
    "dashboard": frozenset({Role.marketer, Role.reviewer}),
    "audit": frozenset(),
    "controls": frozenset({Role.marketer}),
    "chat": frozenset({Role.marketer}),  # POST /v1/chat is marketer-only (CONTRACT.md)
}

# Navigation: (ability, path, label), in menu order.
PAGES: tuple[tuple[str, str, str], ...] = (
    ("dashboard", "/console/dashboard", "Dashboard"),
    ("reviews", "/console/reviews", "Review queue"),
    ("customers", "/console/customers", "Customers"),
    ("journeys", "/console/journeys", "Journeys"),
    ("outbox", "/console/outbox", "Outboxes"),
    ("audit", "/console/audit", "Audit log"),
    ("chat", "/console/chat", "Chat"),
)


def may(role: Role, ability: str) -> bool:
    """True when `role` may use `ability` (a key of ABILITIES); admin may do everything."""
    return role is Role.admin or role in ABILITIES[ability]


@dataclass(frozen=True)
class ConsoleUser:
    """The signed-in key: its principal plus the CSRF token its forms must carry."""

    principal: Principal
    csrf: str

    @property
    def role(self) -> Role:
        return self.principal.role

    @property
    def actor(self) -> str:
        return self.principal.actor

    def may(self, ability: str) -> bool:
        return may(self.role, ability)


def resolve_key(request: Request, engine: Engine, key: str) -> Principal | None:
    """The principal for `key` through the app's short-lived key cache (as api.deps does), so a
    revoked key signs its browser out within the cache's lifetime. `engine` is kept for callers;
    the lookup reads through the app's read engine."""
    del engine
    return lookup_key(request, key)


def optional_user(
    request: Request, engine: Annotated[Engine, Depends(get_engine)]
) -> ConsoleUser | None:
    key = request.cookies.get(COOKIE)
    if not key:
        return None
    principal = resolve_key(request, engine, key)
    if principal is None:
        return None
    request.state.principal = principal
    return ConsoleUser(principal=principal, csrf=csrf_token(key))


def current_user(
    user: Annotated[ConsoleUser | None, Depends(optional_user)],
) -> ConsoleUser:
    """The signed-in user, or a 303 to the sign-in page (browsers follow it)."""
    if user is None:
        raise HTTPException(
            status_code=303,
            detail="sign in first",
            headers={"Location": "/console/login"},
        )
    return user


UserDep = Annotated[ConsoleUser, Depends(current_user)]


async def verify_csrf(request: Request, user: UserDep) -> ConsoleUser:
    """POSTs must carry the token (form field `csrf` or header `X-CSRF-Token`), same origin."""
    origin = request.headers.get("origin")
    if origin and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise HTTPException(status_code=403, detail="cross-origin form refused")
    sent = request.headers.get("x-csrf-token")
    if sent is None:
        form = await request.form()
        value = form.get("csrf")
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent, user.csrf):
        raise HTTPException(
            status_code=403, detail="missing or stale form token; reload the page and retry"
        )
    return user


FormUserDep = Annotated[ConsoleUser, Depends(verify_csrf)]
