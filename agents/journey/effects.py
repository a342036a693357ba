"""Action nodes: decide -> create -> check -> execute | escalate (human review).

Only `execute` has an outside effect, and only through the outbox: the message is enqueued with
a key derived from (run, step, decision, action, content hash) in one transaction with the
customer lock and the send-time guardrail check. A node re-run after a crash finds the same
key and does not enqueue twice; `create` may produce different text on a re-run, but `execute`
only ever reads the creative from the checkpointed state, so the key it computes is stable.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import interrupt
from sqlmodel import col, select

from agents.journey import audit_trail
from agents.journey.context import JourneyContext
from agents.journey.holds import held_by, needs_person
from agents.journey.nodes import spec_of
from agents.journey.spec import JOURNEY_CHANNELS, ActionStep, parse_duration
from agents.journey.state import JourneyState
from core.audit import canonical_json, digest
from core.db import session_scope
from core.domain import (
    DecisionContext,
    DecisionOutcome,
    GuardrailReport,
    Outcome,
    PlannedAction,
    ProfileView,
    Verdict,
)
from core.tables import OutboxMessage, Review

__all__ = ["check", "create", "decide", "escalate", "execute", "idempotency_key"]

REVIEW_DONE = ("approved", "rejected", "expired")


def idempotency_key(
    run_id: str, step: str, decision_id: str | None, action_id: str | None, content_hash: str
) -> str:
    """Deterministic key of one send: same run, step, decision, action, content -> same key.

    The decision is checkpointed before `execute`, so a re-run after a crash finds the row it
    wrote; a step visited again (a branch that loops back) is a new decision, so a new send.
    """
    raw = canonical_json([run_id, step, decision_id or "", action_id or "", content_hash])
    return "journey:" + hashlib.sha256(raw.encode()).hexdigest()


def _end_step(state: JourneyState, outcome: str, **extra: Any) -> dict[str, Any]:
    """Close the current step with `outcome` and move to the step after it."""
    step = state["step"]
    result = {"outcome": outcome, **extra}
    return {"step": spec_of(state).following(step), "results": {step: result}}


def decide(state: JourneyState, runtime: Runtime[JourneyContext]) -> dict[str, Any]:
    """Ask decisioning for the next best action among this step's allowed actions/channels."""
    ctx, spec = runtime.context, spec_of(state)
    step = spec.step(state["step"])
    assert isinstance(step, ActionStep)
    if state.get("profile") is None:
        with session_scope(ctx.engine) as session:
            audit_trail.record(
                session, ctx, state, "decided", inputs={}, outputs={"skip": "no_profile"}
            )
        return {"decision": None, **_end_step(state, "no_profile")}
    profile = ProfileView.model_validate(state["profile"])
    seed = int.from_bytes(
        hashlib.sha256(f"{state['run_id']}:{step.id}".encode()).digest()[:4], "big"
    )
    request = DecisionContext(
        trigger=spec.trigger,
        journey_slug=spec.slug,
        run_id=state["run_id"],
        step=step.id,
        allowed_actions=step.actions,
        # never a channel a journey cannot send through (web content, webhooks)
        allowed_channels=step.channels or list(JOURNEY_CHANNELS),
        seed=seed,
    )
    if state.get("arm") == "control":
        with session_scope(ctx.engine) as session:
            held = ctx.record_holdout(session, profile, request, ctx.now())
            held_id = held.decision_id if held else None
            audit_trail.record(
                session,
                ctx,
                state,
                "decided",
                inputs=request.model_dump(mode="json"),
                outputs={"skip": "control", "decision_id": held_id},
            )
        return {"decision": None, **_end_step(state, "control", decision_id=held_id)}
    with session_scope(ctx.engine) as session:
        decision = ctx.decide(session, profile, request, ctx.now())
        audit_trail.record(
            session,
            ctx,
            state,
            "decided",
            inputs=request.model_dump(mode="json"),
            outputs={
                "decision_id": decision.decision_id,
                "action_id": decision.action_id,
                "channel": decision.channel,
                "holdout": decision.holdout,
            },
        )
    update: dict[str, Any] = {"decision": decision.model_dump(mode="json")}
    if decision.action_id is None or decision.channel is None or decision.holdout:
        outcome = "holdout" if decision.holdout else "no_action"
        update |= _end_step(state, outcome, decision_id=decision.decision_id)
    return update


def _p_response(decision: DecisionOutcome) -> float | None:
    """The model's P(response) for the chosen action (its score is an expected value)."""
    for candidate in decision.explanation.get("candidates", []):
        if candidate.get("action_id") == decision.action_id:
            value = candidate.get("p_response")
            return float(value) if isinstance(value, int | float) else None
    return None


def create(state: JourneyState, runtime: Runtime[JourneyContext]) -> dict[str, Any]:
    """Write the creative and turn the decision into one concrete PlannedAction."""
    ctx = runtime.context
    profile = ProfileView.model_validate(state["profile"])
    decision = DecisionOutcome.model_validate(state["decision"])
    with session_scope(ctx.engine) as session:
        creative = ctx.write_creative(session, profile, decision)
        channel = decision.channel or creative.channel
        recipient = {"email": profile.email, "sms": profile.phone}.get(channel, profile.customer_id)
        action = PlannedAction(
            customer_id=profile.customer_id,
            channel=channel,
            action_id=decision.action_id,
            journey_slug=state["journey"]["slug"],
            run_id=state["run_id"],
            step=state["step"],
            decision_id=decision.decision_id,
            content=creative.content,
            offer=decision.offer,
            recipient=recipient,
            conformance_score=creative.conformance_score,
            model_confidence=_p_response(decision),
            send_at=decision.send_at,
        )
        audit_trail.record(
            session,
            ctx,
            state,
            "created",
            inputs={"decision_id": decision.decision_id},
            outputs={
                "content_hash": digest(creative.content),
                "source": creative.source,
                "conformance_score": creative.conformance_score,
                "prompt_hash": creative.prompt_hash,
                "model": creative.model,
            },
        )
    return {
        "creative": creative.model_dump(mode="json"),
        "action": action.model_dump(mode="json"),
    }


def check(state: JourneyState, runtime: Runtime[JourneyContext]) -> dict[str, Any]:
    """Plan-time guardrails plus the journey's review policy; a block ends the step."""
    ctx, spec = runtime.context, spec_of(state)
    action = PlannedAction.model_validate(state["action"])
    profile = ProfileView.model_validate(state["profile"])
    decision = DecisionOutcome.model_validate(state["decision"])
    with session_scope(ctx.engine) as session:
        report = ctx.check(session, action, profile, ctx.now(), "plan")
        policy = spec.review
        reasons = []
        step = spec.step(state["step"])
        if policy.always or (isinstance(step, ActionStep) and step.review):
            reasons.append("journey_requires_review")
        if decision.needs_review:
            reasons.append("decision_needs_review")
        if (action.conformance_score or 0.0) < policy.min_conformance:
            reasons.append("brand_conformance_below_journey_minimum")
        if reasons:
            report = GuardrailReport.of(
                [*report.verdicts, Verdict.escalate("journey_review_policy", *reasons)],
                risk_score=report.risk_score,
                policy_version=report.policy_version,
                hold_until=report.hold_until,
            )
        audit_trail.record(
            session,
            ctx,
            state,
            "checked",
            inputs=state["action"],
            outputs=report.model_dump(mode="json"),
        )
    update: dict[str, Any] = {"report": report.model_dump(mode="json")}
    if report.outcome == Outcome.block:
        update |= _end_step(state, "blocked", decision_id=decision.decision_id)
    return update


def escalate(state: JourneyState, runtime: Runtime[JourneyContext]) -> dict[str, Any]:
    """Open (or find) the review, interrupt until a human resolves it, then go on or stop.

    The review is looked up by thread and decision before it is created, so the re-run of this
    node on resume (or after a crash) does not open a second one.
    """
    ctx = runtime.context
    action = PlannedAction.model_validate(state["action"])
    report = GuardrailReport.model_validate(state["report"])
    with session_scope(ctx.engine) as session:
        review = session.exec(
            select(Review)
            .where(Review.thread_id == state["thread_id"], Review.decision_id == action.decision_id)
            .order_by(col(Review.created_at).desc())
        ).first()
        if review is None:
            # the journey's policy says how long a human has; unset: the guardrail policy's SLA
            expires = spec_of(state).review.expires_after
            expires_at = ctx.now() + parse_duration(expires) if expires else None
            review = ctx.create_review(
                session, action, report, state["thread_id"], expires_at=expires_at
            )
            audit_trail.record(
                session,
                ctx,
                state,
                "escalated",
                inputs=state["report"],
                outputs={"review_id": review.id},
            )
        review_id = review.id
    answer = interrupt({"kind": "review", "review_id": review_id, "step": state["step"]})
    status = answer.get("status") if isinstance(answer, dict) else None
    if status not in REVIEW_DONE or answer.get("review_id") != review_id:
        raise ValueError(f"resume value for review {review_id} is not a resolution: {answer!r}")
    with session_scope(ctx.engine) as session:
        audit_trail.record(
            session, ctx, state, "review_resolved", inputs=answer, outputs={"status": status}
        )
    if status != "approved":
        return {"review": answer, **_end_step(state, status, decision_id=action.decision_id)}
    content = answer.get("content") or action.content
    approved = action.model_copy(update={"content": content})
    return {"review": answer, "approved": True, "action": approved.model_dump(mode="json")}


def execute(state: JourneyState, runtime: Runtime[JourneyContext]) -> dict[str, Any]:
    """Enqueue the action once: lock the customer, re-check at send time, write the outbox row.

    A hold never ends the step without a row: a timed hold (quiet hours, caps) sets the row's
    `not_before`, a kill-switch hold leaves the row for the dispatcher to hold until the pause is
    lifted, and an approved action held for an unknown timezone waits in the outbox (the
    dispatcher's send-time check holds it). An escalation, or a hold nothing releases, that no
    person has answered yet goes to review instead (`needs_review`), with nothing queued.
    """
    ctx = runtime.context
    action = PlannedAction.model_validate(state["action"])
    profile = ProfileView.model_validate(state["profile"])
    key = idempotency_key(
        state["run_id"], state["step"], action.decision_id, action.action_id, digest(action.content)
    )
    held: list[str] = []
    with session_scope(ctx.engine) as session:
        ctx.lock_customer(session, action.customer_id)
        existing = session.exec(
            select(OutboxMessage).where(OutboxMessage.idempotency_key == key)
        ).first()
        if existing is not None:  # this node already ran to its commit before a crash
            outcome, created = "queued", False
        else:
            report = _send_report(ctx.check(session, action, profile, ctx.now(), "send"), state)
            if not state.get("approved") and (
                report.outcome == Outcome.escalate or needs_person(report)
            ):
                audit_trail.record(
                    session,
                    ctx,
                    state,
                    "executed",
                    inputs={"key": key},
                    outputs={"outcome": "escalated_at_send", "created": False},
                )
                return {"report": report.model_dump(mode="json"), "needs_review": True}
            held = held_by(report) if report.outcome == Outcome.hold else []
            outcome, created = _enqueue(session, ctx, action, report, key)
        audit_trail.record(
            session,
            ctx,
            state,
            "executed",
            inputs={"key": key},
            outputs={
                "outcome": outcome,
                "created": created,
                "channel": action.channel,
                "held_by": held,
            },
        )
    return {
        "needs_review": False,
        **_end_step(
            state,
            outcome,
            decision_id=action.decision_id,
            action_id=action.action_id,
            channel=action.channel,
            key=key if outcome == "queued" else None,
            held_by=held,
        ),
    }


def _send_report(report: GuardrailReport, state: JourneyState) -> GuardrailReport:
    """A reviewer's approval answers an escalation; blocks and holds still stand."""
    if state.get("approved") and report.outcome == Outcome.escalate:
        kept = [v for v in report.verdicts if v.outcome != Outcome.escalate]
        return GuardrailReport.of(kept, risk_score=report.risk_score, hold_until=report.hold_until)
    return report


def _enqueue(
    session: Any,
    ctx: JourneyContext,
    action: PlannedAction,
    report: GuardrailReport,
    key: str,
) -> tuple[str, bool]:
    """Write the outbox row unless the report blocks; a hold only sets when it may go."""
    if report.outcome == Outcome.block:
        return "blocked", False
    not_before: datetime | None = action.send_at
    if report.outcome == Outcome.hold and report.hold_until is not None:
        not_before = report.hold_until
    _, created = ctx.enqueue(
        session,
        channel=action.channel,
        key=key,
        payload={
            "recipient": action.recipient,
            "content": action.content,
            "offer": action.offer,
            "step": action.step,
        },
        customer_id=action.customer_id,
        journey_slug=action.journey_slug,
        run_id=action.run_id,
        decision_id=action.decision_id,
        action_id=action.action_id,
        not_before=not_before,
    )
    return "queued", created
