"""Every /v1 endpoint x every role: allowed or refused as CONTRACT.md's table says.

Routes are enumerated from the app, so endpoints added later are covered automatically.
A refused call must not write anything (the audit chain length is unchanged).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from api.app import discover_routers
from core.keys import Role
from core.tables import AuditEntry
from tests.conftest import auth

# CONTRACT.md: path prefix -> the role that may call it (admin may call everything).
CONTRACT_ROLES: list[tuple[str, str, Role]] = [
    ("POST", r"^/v1/(track|identify|page|screen|group|alias|batch)$", Role.service),
    ("GET", r"^/v1/customers/", Role.marketer),
    ("GET", r"^/v1/decide$", Role.service),
    ("GET", r"^/v1/decisions/", Role.marketer),
    ("GET", r"^/v1/reviews$", Role.reviewer),
    ("POST", r"^/v1/reviews/[^/]+/(approve|reject|edit)$", Role.reviewer),
    ("POST", r"^/v1/controls/(pause|resume)$", Role.marketer),
    ("POST", r"^/v1/guardrails/check$", Role.marketer),
    ("GET", r"^/v1/outbox$", Role.marketer),
    ("GET", r"^/v1/audit", Role.admin),
    ("POST", r"^/v1/chat$", Role.marketer),
]


def _allowed_roles(route: APIRoute) -> frozenset[Role] | None:
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        allowed = getattr(dep.call, "allowed_roles", None)
        if allowed is not None:
            return frozenset(allowed)
        stack.extend(dep.dependencies)
    return None


def _flatten(routes: list[Any]) -> list[APIRoute]:
    out: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            out.append(route)
        elif hasattr(route, "original_router"):  # FastAPI's included-router wrapper
            out.extend(_flatten(route.original_router.routes))
    return out


def _v1_routes(client: TestClient) -> list[tuple[str, str, APIRoute]]:
    out = []
    routes = _flatten([r for router in discover_routers() for r in router.routes])
    for route in routes:
        if route.path.startswith("/v1"):
            for method in sorted(route.methods or ()):
                out.append((method, route.path, route))
    return out


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x-does-not-exist", path)


def _audit_len(engine: Engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(AuditEntry)).one()


def test_every_v1_route_declares_roles(client: TestClient) -> None:
    routes = _v1_routes(client)
    assert routes, "the app serves no /v1 routes"
    undeclared = [f"{m} {p}" for m, p, r in routes if _allowed_roles(r) is None]
    assert undeclared == []


def test_declared_roles_match_the_contract(client: TestClient) -> None:
    for method, path, route in _v1_routes(client):
        for c_method, pattern, role in CONTRACT_ROLES:
            if method == c_method and re.search(pattern, path):
                assert _allowed_roles(route) == {role, Role.admin}, f"{method} {path}"


def _call(client: TestClient, method: str, path: str, headers: dict[str, str]) -> Any:
    return client.request(method, _concrete(path), headers=headers, json={})


def test_missing_and_unknown_keys_get_401(client: TestClient, sqlite_engine: Engine) -> None:
    before = _audit_len(sqlite_engine)
    for method, path, _ in _v1_routes(client):
        assert _call(client, method, path, {}).status_code == 401, f"{method} {path}"
        bad = auth("cjo_adm_not-a-real-key")
        assert _call(client, method, path, bad).status_code == 401, f"{method} {path}"
    assert _audit_len(sqlite_engine) == before


@pytest.mark.parametrize("role", list(Role))
def test_each_role_is_allowed_or_refused_as_declared(
    client: TestClient, role_keys: dict[Role, str], sqlite_engine: Engine, role: Role
) -> None:
    for method, path, route in _v1_routes(client):
        allowed = _allowed_roles(route) or frozenset()
        before = _audit_len(sqlite_engine)
        status = _call(client, method, path, auth(role_keys[role])).status_code
        if role in allowed:
            assert status not in (401, 403), f"{role} refused on {method} {path}"
        else:
            assert status == 403, f"{role} got {status} on {method} {path}"
            assert _audit_len(sqlite_engine) == before, f"refused {method} {path} wrote"
