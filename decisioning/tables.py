"""Decisioning's own tables: learned bandit state per action and recorded outcomes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.clock import utcnow
from core.tables import new_id

__all__ = ["BanditArm", "DecisionReward"]


class BanditArm(SQLModel, table=True):
    """LinUCB statistics of one action (A matrix, b vector), updated in the closed loop."""

    __tablename__ = "decisioning_bandit_arms"
    __table_args__ = (UniqueConstraint("model", "action_id", name="uq_bandit_model_action"),)
    id: int | None = Field(default=None, primary_key=True)
    model: str = Field(max_length=32)
    action_id: str = Field(max_length=100)
    state: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    n_updates: int = 0
    updated_at: datetime = Field(default_factory=utcnow)


class DecisionReward(SQLModel, table=True):
    """An outcome credited to a decision; (decision, kind) is unique so replays count once."""

    __tablename__ = "decisioning_rewards"
    __table_args__ = (UniqueConstraint("decision_id", "kind", name="uq_reward_decision_kind"),)
    id: str = Field(default_factory=new_id, primary_key=True)
    decision_id: str = Field(max_length=64, index=True)
    action_id: str | None = Field(default=None, max_length=100)
    kind: str = Field(max_length=32)
    reward: float
    created_at: datetime = Field(default_factory=utcnow)
