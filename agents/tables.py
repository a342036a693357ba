"""Tables of the journey orchestrator: holdout assignments and outcome attributions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from core.clock import utcnow

__all__ = ["Attribution", "JourneyAssignment"]


class JourneyAssignment(SQLModel, table=True):
    """Which arm (treated or control) a run's customer fell in: the holdout comparison's base."""

    __tablename__ = "journey_assignments"
    run_id: str = Field(primary_key=True, max_length=64)
    journey_slug: str = Field(max_length=100, index=True)
    customer_id: str = Field(max_length=200, index=True)
    arm: str = Field(max_length=16)
    assigned_at: datetime = Field(default_factory=utcnow, index=True)


class Attribution(SQLModel, table=True):
    """An outcome credited to a decision; unique per (source, kind), so it counts once, for
    one decision.

    `source_key` is the outcome event's message_id, or `run:<id>` for a run that ended without
    reaching its goal (a zero reward).
    """

    __tablename__ = "journey_attributions"
    __table_args__ = (UniqueConstraint("source_key", "kind", name="uq_attribution_source_kind"),)
    id: int | None = Field(default=None, primary_key=True)
    source_key: str = Field(max_length=200)
    decision_id: str = Field(max_length=64, index=True)
    run_id: str | None = Field(default=None, max_length=64, index=True)
    journey_slug: str | None = Field(default=None, max_length=100, index=True)
    customer_id: str = Field(max_length=200, index=True)
    kind: str = Field(max_length=32)
    reward: float = 0.0
    revenue: float = 0.0
    created_at: datetime = Field(default_factory=utcnow)
