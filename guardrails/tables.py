"""Tables guardrails keeps beside core's: the full planned action behind each review."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

__all__ = ["ReviewAction"]


class ReviewAction(SQLModel, table=True):
    """The planned action and guardrail report a review was opened for.

    `reviews.content` is what the reviewer sees and approves; re-running guardrails after an
    edit also needs the offer, recipient and scores, which live here.
    """

    __tablename__ = "guardrail_review_actions"
    review_id: str = Field(primary_key=True, max_length=64)
    action: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    report: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
