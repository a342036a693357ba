"""Inbound decisions: what should this visitor see in this web/app slot, right now?

The same arbitration as outbound journeys (eligibility, applicability to the placement,
suitability, scoring, holdouts); the answer names the decision so the page's click can be
credited back to it (`decisioning.learning.record_outcome`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlmodel import Session, select

from api.deps import ServiceDep, SessionDep
from api.errors import ApiError
from core.clock import utcnow
from core.domain import DecisionContext, ProfileView
from core.tables import Customer, Identity, Profile
from decisioning.engine import decide, default_catalog

router = APIRouter(prefix="/v1/decide", tags=["decisions"])


def _canonical_id(session: Session, customer_id: str) -> str:
    """Follow a known userId/anonymousId/email to its customer, and merges to the survivor."""
    if session.get(Customer, customer_id) is None:
        identity = session.exec(select(Identity).where(Identity.value == customer_id)).first()
        if identity is not None:
            customer_id = identity.customer_id
    for _ in range(10):  # merge chains are short; the bound guards against a cycle
        customer = session.get(Customer, customer_id)
        if customer is None or not customer.merged_into:
            break
        customer_id = customer.merged_into
    return customer_id


def _profile(session: Session, customer_id: str) -> ProfileView:
    row = session.get(Profile, customer_id)
    if row is None:  # an unknown visitor still gets the best generic content
        return ProfileView(customer_id=customer_id)
    return ProfileView(
        customer_id=row.customer_id,
        traits=row.traits,
        computed=row.computed,
        consent=row.consent,
        timezone=row.timezone,
        locale=row.locale,
    )


@router.get("")
def decide_for_placement(
    session: SessionDep,
    principal: ServiceDep,
    customer_id: Annotated[str, Query(min_length=1, max_length=200)],
    placement: Annotated[str, Query(min_length=1, max_length=100)],
) -> dict[str, Any]:
    """The best content for `placement` for this visitor, or `action_id: null` for the default."""
    catalog = default_catalog()
    placements = sorted({p for a in catalog.actions for p in a.applicability.placements})
    if placement not in placements:
        raise ApiError(
            422,
            f"unknown placement {placement!r}",
            fields=[{"field": "query.placement", "reason": f"one of {', '.join(placements)}"}],
        )
    profile = _profile(session, _canonical_id(session, customer_id))
    outcome = decide(
        session,
        profile,
        DecisionContext(trigger="inbound", placement=placement),
        now=utcnow(),
        catalog=catalog,
        actor=principal.actor,
    )
    action = catalog.get(outcome.action_id) if outcome.action_id else None
    return {
        "decision_id": outcome.decision_id,
        "customer_id": outcome.customer_id,
        "placement": placement,
        "action_id": outcome.action_id,
        "content": {"name": action.name, "kind": action.kind} if action else None,
        "offer": outcome.offer,
        "policy_arm": outcome.policy_arm,
        "holdout": outcome.holdout,
        "explanation_url": f"/v1/decisions/{outcome.decision_id}",
    }
