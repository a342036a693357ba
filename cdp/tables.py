"""Tables the CDP layer adds beside core's events/customers/identities/profiles.

`ScheduledTrigger` is the durable due-time queue behind "N minutes after X unless Y" rules: one
row per (rule, customer), so a restart finds every pending wake-up where it left it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.clock import utcnow

__all__ = ["ScheduledTrigger"]


class ScheduledTrigger(SQLModel, table=True):
    """A pending (or settled) delayed trigger for one customer.

    Status: pending -> fired | cancelled (the `unless` event came) | expired (due long ago,
    e.g. a historical replay; see `stale_after` in the rule).
    """

    __tablename__ = "cdp_scheduled_triggers"
    __table_args__ = (UniqueConstraint("rule", "customer_id", name="uq_cdp_sched_rule_customer"),)
    id: int | None = Field(default=None, primary_key=True)
    rule: str = Field(max_length=100)
    customer_id: str = Field(max_length=200, index=True)
    anchor_message_id: str = Field(max_length=200)
    anchor_at: datetime
    due_at: datetime = Field(index=True)
    status: str = Field(default="pending", max_length=16, index=True)
    updated_at: datetime = Field(default_factory=utcnow)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
