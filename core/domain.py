"""Typed models that cross package boundaries: what one stage of the flow hands the next.

    cdp -> ProfileView, TriggerContext -> decisioning -> DecisionOutcome -> brand -> Creative
        -> PlannedAction -> guardrails -> GuardrailReport -> tools (outbox) / review

Each package owns its internals; these shapes are the contract between them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CHANNELS",
    "Creative",
    "DecisionContext",
    "DecisionOutcome",
    "GuardrailReport",
    "Outcome",
    "PlannedAction",
    "ProfileView",
    "TriggerContext",
    "Verdict",
]

# Channels cjo can act on. `web` is inbound (GET /v1/decide); `csm` is a contact-center task.
CHANNELS = ("email", "sms", "push", "webhook", "audience", "csm", "web")


class ProfileView(BaseModel):
    """A read-only snapshot of one customer's unified profile, as decisions and checks see it.

    `computed` keys (filled by cdp/): recency_days, frequency, monetary, order_count,
    order_value, last_seen, last_order_at, first_order_at, open_cart {items, value, age_minutes},
    lifecycle_stage, preferred_channel, churn_risk, tier.
    `consent` per channel: {"status": "subscribed"|"unsubscribed"|"implied"|"unknown",
    "basis": "express"|"purchase"|"inquiry"|None, "since": ISO time or None}.
    """

    model_config = ConfigDict(frozen=True)

    customer_id: str
    traits: dict[str, Any] = Field(default_factory=dict)
    computed: dict[str, Any] = Field(default_factory=dict)
    consent: dict[str, dict[str, Any]] = Field(default_factory=dict)
    timezone: str | None = None
    locale: str | None = None
    identities: dict[str, list[str]] = Field(default_factory=dict)

    @property
    def email(self) -> str | None:
        value = self.traits.get("email")
        return value if isinstance(value, str) else None

    @property
    def phone(self) -> str | None:
        value = self.traits.get("phone")
        return value if isinstance(value, str) else None


class TriggerContext(BaseModel):
    """Why a journey run started: a trigger rule matched for this customer."""

    trigger: str
    journey_slug: str
    customer_id: str
    fired_at: datetime
    dedup_key: str
    data: dict[str, Any] = Field(default_factory=dict)


class DecisionContext(BaseModel):
    """What the decision is for: a journey step (outbound) or a placement (inbound)."""

    trigger: str | None = None
    journey_slug: str | None = None
    run_id: str | None = None
    step: str | None = None
    placement: str | None = None
    allowed_actions: list[str] | None = None
    allowed_channels: list[str] | None = None
    seed: int | None = None


class DecisionOutcome(BaseModel):
    """The chosen action (or none) with where the full explanation is stored."""

    decision_id: str
    customer_id: str
    action_id: str | None
    channel: str | None
    offer: dict[str, Any] = Field(default_factory=dict)
    needs_review: bool = False
    policy_arm: str = "model"
    holdout: bool = False
    send_at: datetime | None = None
    score: float | None = None
    explanation: dict[str, Any] = Field(default_factory=dict)


class Creative(BaseModel):
    """Channel-ready content with where it came from and how well it fits the brand.

    `content` keys by channel: email {subject, preheader, body_text, body_html, cta_text,
    cta_url}; sms {text}; push {title, body, url}; audience {audience}; csm {script, summary};
    web {headline, body, cta_text, cta_url}; webhook {event, data}.
    """

    channel: str
    content: dict[str, Any]
    brand_version: str = ""
    conformance_score: float = 0.0
    conformance_reasons: list[str] = Field(default_factory=list)
    claims: list[str] = Field(default_factory=list)
    source: str = "llm"  # llm | revised | fallback | cache
    model: str | None = None
    prompt_hash: str | None = None
    tokens: int = 0


class PlannedAction(BaseModel):
    """One concrete action about to be taken; what guardrails check and the outbox delivers."""

    customer_id: str
    channel: str
    action_id: str | None = None
    journey_slug: str | None = None
    run_id: str | None = None
    step: str | None = None
    decision_id: str | None = None
    content: dict[str, Any] = Field(default_factory=dict)
    offer: dict[str, Any] = Field(default_factory=dict)
    recipient: str | None = None
    source: str = "generated"  # generated | customer (text written by a customer)
    conformance_score: float | None = None
    model_confidence: float | None = None
    send_at: datetime | None = None


class Outcome(StrEnum):
    """Guardrail outcomes, least to most severe; the most severe verdict wins."""

    allow = "allow"
    hold = "hold"
    escalate = "escalate"
    block = "block"

    @property
    def severity(self) -> int:
        return ["allow", "hold", "escalate", "block"].index(self.value)


class Verdict(BaseModel):
    """One check's answer, with reason codes a reviewer can read."""

    check: str
    outcome: Outcome
    reasons: list[str] = Field(default_factory=list)

    @classmethod
    def allow(cls, check: str) -> Verdict:
        return cls(check=check, outcome=Outcome.allow)

    @classmethod
    def hold(cls, check: str, *reasons: str) -> Verdict:
        return cls(check=check, outcome=Outcome.hold, reasons=list(reasons))

    @classmethod
    def escalate(cls, check: str, *reasons: str) -> Verdict:
        return cls(check=check, outcome=Outcome.escalate, reasons=list(reasons))

    @classmethod
    def block(cls, check: str, *reasons: str) -> Verdict:
        return cls(check=check, outcome=Outcome.block, reasons=list(reasons))


class GuardrailReport(BaseModel):
    """All verdicts on one action; `outcome` is the most severe one."""

    outcome: Outcome
    verdicts: list[Verdict]
    risk_score: float = 0.0
    policy_version: str = ""
    hold_until: datetime | None = None

    @classmethod
    def of(cls, verdicts: list[Verdict], **kw: Any) -> GuardrailReport:
        worst = max((v.outcome for v in verdicts), key=lambda o: o.severity, default=Outcome.allow)
        return cls(outcome=worst, verdicts=verdicts, **kw)
