"""The audit log: list entries and verify the hash chain (admin only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from sqlmodel import col, select

from api.deps import AdminDep, SessionDep
from core import audit
from core.tables import AuditEntry

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.get("")
def list_entries(
    session: SessionDep,
    _: AdminDep,
    customer_id: str | None = None,
    journey_id: str | None = None,
    actor: str | None = None,
    kind: str | None = Query(default=None, description="Exact kind, or a prefix ending in '.'"),
    chain: str = "main",
    after_seq: int = Query(default=0, ge=0, le=2**63 - 1),
    limit: int = Query(default=100, ge=1, le=1000),
) -> dict[str, Any]:
    """Entries in chain order, filtered; page with `after_seq`."""
    query = select(AuditEntry).where(AuditEntry.chain == chain, col(AuditEntry.seq) > after_seq)
    if customer_id:
        query = query.where(AuditEntry.customer_id == customer_id)
    if journey_id:
        query = query.where(AuditEntry.journey_id == journey_id)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if kind:
        query = query.where(
            col(AuditEntry.kind).startswith(kind) if kind.endswith(".") else AuditEntry.kind == kind
        )
    rows = session.exec(query.order_by(col(AuditEntry.seq)).limit(limit)).all()
    return {
        "entries": [row.model_dump(mode="json") for row in rows],
        "next_after_seq": rows[-1].seq if len(rows) == limit else None,
    }


@router.get("/verify")
def verify(session: SessionDep, _: AdminDep) -> dict[str, Any]:
    """Check every chain; `ok` is false and the first bad entry is named if anything was altered."""
    reports = [audit.verify_chain(session, chain).as_dict() for chain in audit.list_chains(session)]
    if not reports:
        reports = [audit.verify_chain(session).as_dict()]
    return {"ok": all(r["ok"] for r in reports), "chains": reports}
