"""Customer pages: find a customer, then profile, traits, identities and a full timeline."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session, col, or_, select

from api.deps import SessionDep
from api.web.session import UserDep
from api.web.templating import render
from core.clock import as_utc
from core.tables import (
    AuditEntry,
    Customer,
    Decision,
    Event,
    Identity,
    OutboxMessage,
    Profile,
    Review,
)

router = APIRouter(prefix="/console/customers", include_in_schema=False)

# Track events that count as outcomes of what cjo sent (Segment e-commerce spec names).
OUTCOME_EVENTS = {"Order Completed", "Product Added", "Checkout Started", "Email Link Clicked",
                  "Email Opened", "Unsubscribed", "Email Unsubscribed", "Signed Up"}  # fmt: skip
TIMELINE_LIMIT = 200


@dataclass(frozen=True)
class TimelineItem:
    """One dated thing that happened to a customer, whatever table it came from."""

    at: datetime
    kind: str  # event | outcome | decision | action | review | audit
    title: str
    detail: dict[str, Any]
    row: Any


def resolve_customer(session: Session, ref: str) -> str | None:
    """The canonical id for a canonical id, a userId, an anonymousId, an email or a phone."""
    customer = session.get(Customer, ref)
    if customer is None:
        ident = session.exec(select(Identity).where(Identity.value == ref)).first()
        if ident is None:
            profile = session.get(Profile, ref)
            return profile.customer_id if profile else None
        customer = session.get(Customer, ident.customer_id)
        if customer is None:
            return ident.customer_id
    seen = set()
    while customer.merged_into and customer.id not in seen:  # follow merges to the survivor
        seen.add(customer.id)
        survivor = session.get(Customer, customer.merged_into)
        if survivor is None:
            break
        customer = survivor
    return customer.id


def timeline(session: Session, customer_id: str, ids: list[str]) -> list[TimelineItem]:
    """Events, decisions, actions, reviews and outcome audit entries, newest first."""
    items: list[TimelineItem] = []
    events = session.exec(
        select(Event).where(col(Event.customer_id).in_(ids))
        .order_by(col(Event.timestamp).desc()).limit(TIMELINE_LIMIT)
    ).all()  # fmt: skip
    for e in events:
        kind = "outcome" if e.type == "track" and e.event in OUTCOME_EVENTS else "event"
        title = f"{e.type}: {e.event}" if e.event else e.type
        items.append(TimelineItem(as_utc(e.timestamp), kind, title, e.properties or e.traits, e))
    for d in session.exec(
        select(Decision).where(col(Decision.customer_id).in_(ids))
        .order_by(col(Decision.created_at).desc()).limit(TIMELINE_LIMIT)
    ):  # fmt: skip
        title = f"decided {d.action_id or 'no action'}" + (f" via {d.channel}" if d.channel else "")
        items.append(TimelineItem(as_utc(d.created_at), "decision", title, d.explanation, d))
    for m in session.exec(
        select(OutboxMessage).where(col(OutboxMessage.customer_id).in_(ids))
        .order_by(col(OutboxMessage.created_at).desc()).limit(TIMELINE_LIMIT)
    ):  # fmt: skip
        title = f"{m.channel} {m.status}" + (f": {m.action_id}" if m.action_id else "")
        at = as_utc(m.sent_at or m.created_at)
        items.append(TimelineItem(at, "action", title, m.payload, m))
    for r in session.exec(select(Review).where(col(Review.customer_id).in_(ids))):
        title = f"review {r.status}" + (f" by {r.resolved_by}" if r.resolved_by else "")
        at = as_utc(r.resolved_at or r.created_at)
        items.append(TimelineItem(at, "review", title, {"reasons": r.reasons}, r))
    for a in session.exec(
        select(AuditEntry)
        .where(
            col(AuditEntry.customer_id).in_(ids),
            or_(
                col(AuditEntry.kind).startswith("outcome"),
                col(AuditEntry.kind).contains("attribut"),
            ),
        )
        .limit(TIMELINE_LIMIT)
    ):
        items.append(TimelineItem(as_utc(a.ts), "outcome", a.kind, a.payload, a))
    items += _attributions(session, ids)
    items.sort(key=lambda i: i.at, reverse=True)
    return items[:TIMELINE_LIMIT]


def _attributions(session: Session, ids: list[str]) -> list[TimelineItem]:
    """Outcomes agents/ credited to a decision (conversion, click, unsubscribe), if present."""
    try:
        table: Any = importlib.import_module("agents.tables").Attribution
    except (ImportError, AttributeError):
        return []
    rows = session.exec(
        select(table).where(col(table.customer_id).in_(ids)).limit(TIMELINE_LIMIT)
    ).all()
    out = []
    for row in rows:
        title = f"{row.kind} credited to decision {str(row.decision_id)[:8]}"
        if row.revenue:
            title += f" (revenue {row.revenue:.2f})"
        detail = {"journey": row.journey_slug, "reward": row.reward, "revenue": row.revenue}
        out.append(TimelineItem(as_utc(row.created_at), "outcome", title, detail, row))
    return out


def _forbidden(request: Request, session: Session, user: Any) -> Response:
    return render(request, "forbidden.html", user=user, session=session, status_code=403,
                  what="look at customer profiles")  # fmt: skip


@router.get("")
def search(request: Request, session: SessionDep, user: UserDep, q: str = "") -> Response:
    """Find by id, userId, email or phone; without a query, the most recently updated profiles."""
    if not user.may("customers"):
        return _forbidden(request, session, user)
    q = q.strip()
    if q:
        found = resolve_customer(session, q)
        if found is not None:
            return RedirectResponse(f"/console/customers/{found}", status_code=303)
    recent = session.exec(select(Profile).order_by(col(Profile.updated_at).desc()).limit(50)).all()
    return render(request, "customers.html", user=user, session=session, q=q, recent=recent,
                  not_found=bool(q))  # fmt: skip


@router.get("/{customer_ref}")
def customer(request: Request, session: SessionDep, user: UserDep, customer_ref: str) -> Response:
    if not user.may("customers"):
        return _forbidden(request, session, user)
    customer_id = resolve_customer(session, customer_ref)
    if customer_id is None:
        return render(request, "customers.html", user=user, session=session, q=customer_ref,
                      recent=[], not_found=True, status_code=404)  # fmt: skip
    merged = [
        c.id for c in session.exec(select(Customer).where(Customer.merged_into == customer_id))
    ]
    ids = [customer_id, *merged]
    identities = session.exec(
        select(Identity).where(col(Identity.customer_id).in_(ids)).order_by(col(Identity.kind))
    ).all()
    return render(
        request,
        "customer.html",
        user=user,
        session=session,
        customer_id=customer_id,
        profile=session.get(Profile, customer_id),
        merged=merged,
        identities=identities,
        items=timeline(session, customer_id, ids),
    )
