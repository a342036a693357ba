"""Build the production JourneyContext from the real packages, and the dispatcher's send check.

The graph only sees the callables of `JourneyContext`; this module adapts cdp/, decisioning/,
brand/, guardrails/ and tools/ to them, and turns a planned action into each channel adapter's
payload. Imports of the heavy parts (brand store, LLM) happen once, when the context is built.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from agents.journey.context import JourneyContext, Stage
from cdp.profiles import get_profile_view
from core.clock import utcnow
from core.domain import (
    Creative,
    DecisionContext,
    DecisionOutcome,
    GuardrailReport,
    Outcome,
    PlannedAction,
    ProfileView,
)
from core.settings import Settings
from core.tables import OutboxMessage, Review
from decisioning.arbitration import PolicyConfig
from decisioning.churn import ChurnModel
from decisioning.engine import decide as decide_action
from decisioning.engine import record_holdout as record_holdout_decision
from decisioning.learning import record_outcome as learn_from_outcome
from guardrails.content import sanitise_html
from guardrails.engine import check_action, content_verdicts
from guardrails.frequency import lock_customer
from guardrails.policy import Policy, default_policy
from guardrails.precheck import suitability_checks
from guardrails.review import create_review as open_review
from guardrails.send_check import SendCheck, check_before_send
from tools.channels.email import EmailDefaults, compliance_headers
from tools.channels.registry import email_defaults as registry_email_defaults
from tools.outbox import enqueue as enqueue_outbox

__all__ = ["build_context", "channel_payload", "content_acceptance", "make_pre_send"]

ACTOR = "agent:journey"


def channel_payload(
    channel: str,
    recipient: str | None,
    content: dict[str, Any],
    offer: dict[str, Any],
    customer_id: str,
    *,
    physical_address: str = "",
    contact: ProfileView | None = None,
) -> dict[str, Any]:
    """The payload each channel adapter expects (docs/channels.md), from creative content.

    Email carries the sender's `physical_address` (from the guardrail policy) for the adapter
    to put where the copy says `{{physical_address}}`, and its HTML is sanitised (nh3) here,
    on the way into the outbox: the guardrails block active HTML they recognise, and whatever
    else a model or an editor wrote (forms, CSS that loads things) is removed, not sent.
    An audience add carries the customer's email and phone from `contact` (their profile): the
    audience adapter stores only their SHA-256 hashes, the customer-match format.
    """
    if channel == "email":
        html = str(content.get("body_html") or "")
        return {
            "to": recipient,
            "subject": content.get("subject", ""),
            "preheader": content.get("preheader"),
            "text": content.get("body_text", ""),
            "html": sanitise_html(html) if html else "",
            "physical_address": physical_address,
        }
    if channel == "sms":
        return {"to": recipient, "text": content.get("text", "")}
    if channel == "push":
        return {
            "customer_id": customer_id,
            "title": content.get("title", ""),
            "body": content.get("body", ""),
            "url": content.get("url"),
        }
    if channel == "csm":
        return {
            "script": content.get("script", ""),
            "summary": content.get("summary", ""),
            "priority": content.get("priority", "normal"),
            "customer_id": customer_id,
        }
    if channel == "audience":
        identifiers = {"email": contact.email, "phone": contact.phone} if contact else {}
        return {
            "audience": content.get("audience") or offer.get("audience", "default"),
            "op": "add",
            "customer_id": customer_id,
            **{k: v for k, v in identifiers.items() if v},
        }
    raise ValueError(
        f"channel {channel!r} has no journey outbox payload (journeys use email, sms, push, "
        "csm and audience; web is served by /v1/decide)"
    )


def _with_send_headers(action: PlannedAction, email_defaults: EmailDefaults) -> PlannedAction:
    """An email as it will leave: with the List-Unsubscribe headers the email adapter adds."""
    if action.channel != "email":
        return action
    headers = compliance_headers(action.customer_id, action.recipient or "", email_defaults)
    return action.model_copy(update={"content": {**action.content, "headers": headers}})


def content_acceptance(
    profile: ProfileView, decision: DecisionOutcome, channel: str, policy: Policy | None = None
) -> Callable[[dict[str, Any]], list[str]]:
    """The creative agent's extra acceptance test: the content guardrails, as critique.

    A small model sometimes writes a subject in capitals or repeats an offer the customer was
    not given; the guardrails would block that message at send time and the customer would get
    nothing. Handing the creative agent the same checks lets it revise the draft, or use the
    approved-blocks fallback, before the journey ever plans the send.
    """
    policy = policy or default_policy()

    def accept(content: dict[str, Any]) -> list[str]:
        action = PlannedAction(
            customer_id=profile.customer_id,
            channel=channel,
            action_id=decision.action_id,
            content=content,
            offer=decision.offer,
            recipient=profile.email if channel == "email" else profile.phone,
        )
        return [
            f"guardrail {v.check}: {reason}"
            for v in content_verdicts(action, profile, policy, stage="plan")
            if v.outcome == Outcome.block and v.check != "brand_conformance"
            for reason in v.reasons
        ]

    return accept


def build_context(
    engine: Engine,
    settings: Settings,
    *,
    write_creative: Any,
    churn_model: ChurnModel | None = None,
    policy: Policy | None = None,
    email_defaults: EmailDefaults | None = None,
) -> JourneyContext:
    """The context `cjo run` / `cjo serve` hand the JourneyRunner.

    `write_creative(session, profile, decision) -> Creative` comes from the caller, which owns
    the brand store and the LLM client (see cli/services.py).
    """
    policy = policy or default_policy()
    email_defaults = email_defaults or registry_email_defaults(settings)

    def load_profile(session: Session, customer_id: str) -> ProfileView | None:
        return get_profile_view(session, customer_id)

    # A journey assigns its own holdout arm (its spec's holdout_pct) before it decides; drawing
    # decisioning's per-journey holdout as well would hold out twice as many.
    decision_policy = PolicyConfig.from_settings(journey_holdout_rate=0.0)

    def decide(
        session: Session, profile: ProfileView, ctx: DecisionContext, now: datetime
    ) -> DecisionOutcome:
        return decide_action(
            session,
            profile,
            ctx,
            now=now,
            suitability=suitability_checks(session, policy),
            churn_model=churn_model,
            policy=decision_policy,
            actor=ACTOR,
        )

    def record_holdout(
        session: Session, profile: ProfileView, ctx: DecisionContext, now: datetime
    ) -> DecisionOutcome:
        return record_holdout_decision(
            session,
            profile,
            ctx,
            now=now,
            control=f"journey:{ctx.journey_slug}",
            suitability=suitability_checks(session, policy),
            churn_model=churn_model,
            policy=decision_policy,
            actor=ACTOR,
        )

    def create(session: Session, profile: ProfileView, decision: DecisionOutcome) -> Creative:
        creative: Creative = write_creative(session, profile, decision)
        return creative

    def check(
        session: Session, action: PlannedAction, profile: ProfileView, now: datetime, stage: Stage
    ) -> GuardrailReport:
        if stage == "send":
            action = _with_send_headers(action, email_defaults)
        return check_action(session, action, profile, now=now, stage=stage, policy=policy)

    def create_review(
        session: Session,
        action: PlannedAction,
        report: GuardrailReport,
        thread_id: str,
        *,
        expires_at: datetime | None,
    ) -> Review:
        return open_review(
            session,
            action=action,
            report=report,
            thread_id=thread_id,
            actor=ACTOR,
            policy=policy,
            expires_at=expires_at,
        )

    def enqueue(session: Session, **kw: Any) -> tuple[OutboxMessage, bool]:
        planned = kw.pop("payload")
        audience = kw["channel"] == "audience"
        kw["payload"] = channel_payload(
            kw["channel"],
            planned.get("recipient"),
            planned.get("content") or {},
            planned.get("offer") or {},
            kw["customer_id"],
            physical_address=policy.email.physical_address,
            contact=get_profile_view(session, kw["customer_id"]) if audience else None,
        )
        return enqueue_outbox(session, **kw)

    def record_outcome(session: Session, *, decision_id: str, reward: float, kind: str) -> None:
        learn_from_outcome(session, decision_id=decision_id, reward=reward, kind=kind)

    return JourneyContext(
        engine=engine,
        load_profile=load_profile,
        decide=decide,
        write_creative=create,
        check=check,
        create_review=create_review,
        enqueue=enqueue,
        record_outcome=record_outcome,
        lock_customer=lock_customer,
        record_holdout=record_holdout,
        now=utcnow,
    )


def make_pre_send(policy: Policy | None = None, *, clock: Callable[[], datetime] = utcnow) -> Any:
    """The dispatcher's send-time check (`tools.dispatcher.PreSend`): consent, quiet hours and
    the cap again, on the customer's current profile (`guardrails.send_check`).

    Returns a `SendCheck`: the "send" | "hold" | "block" string the dispatcher compares, with
    `.reasons` (`check:reason`), `.verdicts` and `.hold_until` for its audit entry and row.
    Typed `Any` because `PreSend` still declares the plain strings; a SendCheck is one.
    """
    policy = policy or default_policy()

    def pre_send(session: Session, message: OutboxMessage) -> SendCheck:
        if message.customer_id is None:
            return SendCheck("send")
        profile = get_profile_view(session, message.customer_id)
        return check_before_send(session, message, profile, now=clock(), policy=policy)

    return pre_send
