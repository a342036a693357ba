"""A decision with its full explanation: candidates, filters, scores, arm, versions, outcomes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlmodel import col, select

from api.deps import MarketerDep, SessionDep
from api.errors import ApiError
from core.tables import Decision
from decisioning.tables import DecisionReward

router = APIRouter(prefix="/v1/decisions", tags=["decisions"])


@router.get("/{decision_id}")
def get_decision(decision_id: str, session: SessionDep, _: MarketerDep) -> dict[str, Any]:
    """The stored decision exactly as it was made, plus any outcomes credited to it since."""
    row = session.get(Decision, decision_id)
    if row is None:
        raise ApiError(404, f"no decision {decision_id!r}")
    rewards = session.exec(
        select(DecisionReward)
        .where(DecisionReward.decision_id == decision_id)
        .order_by(col(DecisionReward.created_at))
    ).all()
    body = row.model_dump(mode="json")
    body["outcomes"] = [
        {"kind": r.kind, "reward": r.reward, "recorded_at": r.created_at.isoformat()}
        for r in rewards
    ]
    return body
