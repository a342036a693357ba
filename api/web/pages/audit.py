"""Audit explorer: filter the hash-chained log and see whether the chain is intact."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlmodel import col, select

from api.deps import SessionDep
from api.web.session import UserDep
from api.web.templating import render
from core import audit
from core.tables import AuditEntry

router = APIRouter(prefix="/console/audit", include_in_schema=False)
PAGE = 100


@router.get("")
def explorer(
    request: Request,
    session: SessionDep,
    user: UserDep,
    customer_id: str = "",
    journey_id: str = "",
    actor: str = "",
    kind: str = "",
    before_seq: int = Query(default=0, ge=0),
) -> Response:
    """Newest first; `kind` is exact or a prefix ending in '.'; page back with `before_seq`."""
    if not user.may("audit"):
        return render(request, "forbidden.html", user=user, session=session, status_code=403,
                      what="read the audit log")  # fmt: skip
    query = select(AuditEntry).where(AuditEntry.chain == "main")
    if before_seq:
        query = query.where(col(AuditEntry.seq) < before_seq)
    if customer_id.strip():
        query = query.where(AuditEntry.customer_id == customer_id.strip())
    if journey_id.strip():
        query = query.where(AuditEntry.journey_id == journey_id.strip())
    if actor.strip():
        query = query.where(AuditEntry.actor == actor.strip())
    if kind.strip():
        k = kind.strip()
        query = query.where(
            col(AuditEntry.kind).startswith(k) if k.endswith(".") else AuditEntry.kind == k
        )
    entries = session.exec(query.order_by(col(AuditEntry.seq).desc()).limit(PAGE)).all()
    kinds = sorted(set(session.exec(select(AuditEntry.kind).distinct()).all()))
    return render(
        request,
        "audit.html",
        user=user,
        session=session,
        entries=entries,
        kinds=kinds,
        filters={
            "customer_id": customer_id,
            "journey_id": journey_id,
            "actor": actor,
            "kind": kind,
        },
        next_before=entries[-1].seq if len(entries) == PAGE else None,
    )


@router.get("/verify")
def verify(request: Request, session: SessionDep, user: UserDep) -> Response:
    """The chain check, loaded after the page so a long chain does not delay the list."""
    if not user.may("audit"):
        return render(request, "_chain.html", user=user, reports=[], status_code=403)
    chains = audit.list_chains(session) or ["main"]
    reports = [audit.verify_chain(session, chain) for chain in chains]
    return render(request, "_chain.html", user=user, reports=reports)
