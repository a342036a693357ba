"""Run every guardrail on a planned action (or a piece of text) and audit the report.

`evaluate` is pure: action, profile, the day's send counts, time and policy in; report out.
`check_action` adds what needs the database (send counts from the outbox, the kill switch) and
writes one `guardrail.checked` audit entry in the caller's transaction.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlmodel import Session

from core import audit, controls
from core.clock import as_utc, utcnow
from core.domain import GuardrailReport, Outcome, PlannedAction, ProfileView, Verdict
from core.tables import Profile
from guardrails import content as content_checks
from guardrails.advice import financial_advice_check
from guardrails.consent import consent_check, opt_out_keyword
from guardrails.email import email_compliance_check
from guardrails.frequency import customer_zone, day_bounds, frequency_check, sends_today
from guardrails.injection import leaked_system_text, screen_customer_text
from guardrails.pii import pii_check
from guardrails.policy import Policy, default_policy
from guardrails.quiet_hours import quiet_hours_check
from guardrails.risk import risk_factors, risk_score, risk_verdict
from guardrails.text import all_text

__all__ = [
    "KILL_SWITCH",
    "Stage",
    "check_action",
    "check_text",
    "evaluate",
    "goes_out_at",
    "load_profile",
    "output_signs",
    "with_kill_switch",
]

Stage = Literal["plan", "send"]
ACTOR = "guardrails"
KILL_SWITCH = "kill_switch"
_RECIPIENT_KEYS = ("to", "cc", "bcc", "recipients", "reply_to", "forward_to")
_BODY_KEY = {"email": "body_text", "sms": "text", "push": "body", "csm": "script", "web": "body"}


def content_verdicts(
    action: PlannedAction, profile: ProfileView | None, policy: Policy, *, stage: Stage
) -> list[Verdict]:
    """Checks on the words, links and offer, needing no database."""
    content = action.content
    verdicts = [
        content_checks.banned_phrases_check(content, policy),
        content_checks.claims_check(content, policy),
        content_checks.offer_limits_check(action, policy),
        content_checks.url_domains_check(content, policy),
        content_checks.html_check(content),
        pii_check(action, profile, allowed=[policy.email.physical_address]),
        content_checks.brand_conformance_check(action, policy),
    ]
    if action.channel == "email":
        verdicts.append(email_compliance_check(content, policy, stage=stage))
    if action.source == "customer":
        verdicts.append(screen_customer_text(all_text(content)).verdict())
    else:
        verdicts.append(output_signs(action, profile))
    return verdicts


def output_signs(action: PlannedAction, profile: ProfileView | None) -> Verdict:
    """Signs that generated output obeyed someone: extra recipients, leaked prompt text."""
    reasons = [f"recipient_field:{k}" for k in _RECIPIENT_KEYS if action.content.get(k)]
    if action.recipient and profile is not None:
        own = {profile.email, profile.phone} | {
            v for values in profile.identities.values() for v in values
        }
        own_lower = {o.lower() for o in own if o}
        own_digits = {re.sub(r"\D", "", o)[-10:] for o in own_lower if "@" not in o}
        recipient = action.recipient.lower()
        digits = re.sub(r"\D", "", recipient)[-10:]
        # push, CSM tasks and audiences are addressed by the customer's own id
        matches = (
            recipient in own_lower
            or recipient == profile.customer_id.lower()
            or ("@" not in recipient and digits in own_digits)
        )
        if own_lower and not matches:
            reasons.append("recipient_not_customer")
    reasons += [f"leaked_text:{p}" for p in leaked_system_text(all_text(action.content))]
    if reasons:
        return Verdict.block("instruction_following", *reasons)
    return Verdict.allow("instruction_following")


def goes_out_at(action: PlannedAction, now: datetime, stage: Stage) -> datetime:
    """When the action would leave: its planned send time at plan stage, else now."""
    return as_utc(action.send_at) if action.send_at and stage == "plan" else as_utc(now)


def evaluate(
    action: PlannedAction,
    profile: ProfileView | None,
    *,
    now: datetime,
    stage: Stage = "plan",
    policy: Policy | None = None,
    counts: Counter[str] | None = None,
) -> GuardrailReport:
    """All checks on one action. `counts`: messages per channel on the customer's local day."""
    policy = policy or default_policy()
    at = goes_out_at(action, now, stage)
    holds: list[datetime] = []
    verdicts = [consent_check(action.channel, profile, now, policy)]
    quiet, until = quiet_hours_check(action.channel, profile, at, policy)
    verdicts.append(quiet)
    if until is not None:
        holds.append(until)
    cap = frequency_check(action.channel, counts or Counter(), policy)
    verdicts.append(cap)
    if cap.outcome == Outcome.hold:
        holds.append(day_bounds(at, customer_zone(profile) or ZoneInfo("UTC"))[1])
    verdicts += content_verdicts(action, profile, policy, stage=stage)
    factors = risk_factors(action, profile, verdicts, policy)
    score = risk_score(factors, policy)
    verdicts.append(risk_verdict(score, policy))
    no_release = any(v.outcome == Outcome.hold and not _has_release(v) for v in verdicts)
    return GuardrailReport.of(
        verdicts,
        risk_score=score,
        policy_version=policy.version_tag,
        hold_until=None if no_release or not holds else max(holds),
    )


def _has_release(verdict: Verdict) -> bool:
    return verdict.check in {"quiet_hours", "frequency_cap"} and "timezone_unknown" not in (
        verdict.reasons
    )


def _audit_report(
    session: Session, action: PlannedAction, report: GuardrailReport, *, stage: str, kind: str
) -> None:
    audit.append(
        session,
        actor=ACTOR,
        kind=kind,
        subject_type="action",
        subject_id=action.decision_id or action.action_id,
        customer_id=action.customer_id or None,
        journey_id=action.journey_slug,
        payload={
            "stage": stage,
            "channel": action.channel,
            "run_id": action.run_id,
            "step": action.step,
            "content_digest": audit.digest(action.content),
            "report": report.model_dump(mode="json"),
        },
    )


def check_action(
    session: Session,
    action: PlannedAction,
    profile: ProfileView | None,
    *,
    now: datetime,
    stage: Stage = "plan",
    policy: Policy | None = None,
) -> GuardrailReport:
    """Run every guardrail on `action`, add the kill switch, audit as `guardrail.checked`.

    At `stage="send"` call it after `frequency.lock_customer` in the transaction that inserts
    the outbox row, so concurrent journeys cannot both pass the cap.
    """
    day = goes_out_at(action, now, stage)  # caps count the day the message goes out
    counts = sends_today(session, action.customer_id, day, customer_zone(profile))
    report = evaluate(action, profile, now=now, stage=stage, policy=policy, counts=counts)
    report = with_kill_switch(session, action, report)
    _audit_report(session, action, report, stage=stage, kind="guardrail.checked")
    return report


def with_kill_switch(
    session: Session, action: PlannedAction, report: GuardrailReport
) -> GuardrailReport:
    """Add a `kill_switch` hold when a pause covers the action's channel or journey.

    Lifting the pause releases this hold, not a time, so the report keeps the release time of
    its other holds (quiet hours, caps): the outbox row waits for both, and the dispatcher
    holds paused rows until the pause is lifted. It never means "ask a human".
    """
    if not controls.is_paused(session, channel=action.channel, journey_slug=action.journey_slug):
        return report
    return GuardrailReport.of(
        [*report.verdicts, Verdict.hold(KILL_SWITCH, "paused")],
        risk_score=report.risk_score,
        policy_version=report.policy_version,
        hold_until=report.hold_until,
    )


def load_profile(session: Session, customer_id: str) -> ProfileView | None:
    """The stored profile as a ProfileView (None when the customer is unknown)."""
    row = session.get(Profile, customer_id)
    if row is None:
        return None
    return ProfileView(
        customer_id=row.customer_id,
        traits=row.traits,
        computed=row.computed,
        consent=row.consent,
        timezone=row.timezone,
        locale=row.locale,
    )


def check_text(
    session: Session,
    *,
    text: str,
    source: Literal["customer", "generated"],
    channel: str | None = None,
    customer_id: str | None = None,
    action: dict[str, Any] | None = None,
    now: datetime | None = None,
    policy: Policy | None = None,
) -> GuardrailReport:
    """Dry run for marketers: every verdict on a text or planned action; sends nothing.

    Customer text is screened for injection, advice requests and opt-out words. Generated
    text runs the content checks, and with a `customer_id` also consent, quiet hours and caps.
    """
    policy = policy or default_policy()
    now = now or utcnow()
    spec = dict(action or {})
    channel = channel or spec.get("channel") or "email"
    customer_id = customer_id or spec.get("customer_id")
    content = dict(spec.get("content") or {})
    if text:
        content.setdefault(_BODY_KEY.get(channel, "text"), text)
    planned = PlannedAction.model_validate(
        {
            **spec,
            "customer_id": customer_id or "",
            "channel": channel,
            "content": content,
            "source": source,
        }
    )
    if source == "customer":
        verdicts = [
            screen_customer_text(text).verdict(),
            financial_advice_check(text),
        ]
        keyword = opt_out_keyword(text)
        verdicts.append(
            Verdict.block("opt_out", f"opt_out_keyword:{keyword}")
            if keyword
            else Verdict.allow("opt_out")
        )
        report = GuardrailReport.of(verdicts, policy_version=policy.version_tag)
    elif customer_id:
        profile = load_profile(session, customer_id)
        day = goes_out_at(planned, now, "plan")
        counts = sends_today(session, customer_id, day, customer_zone(profile))
        report = evaluate(planned, profile, now=now, policy=policy, counts=counts)
    else:
        verdicts = content_verdicts(planned, None, policy, stage="plan")
        factors = risk_factors(planned, None, verdicts, policy)
        score = risk_score(factors, policy)
        verdicts.append(risk_verdict(score, policy))
        report = GuardrailReport.of(verdicts, risk_score=score, policy_version=policy.version_tag)
    _audit_report(session, planned, report, stage="dry_run", kind="guardrail.dry_run")
    return report
