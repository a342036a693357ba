"""Figures for the dashboard, computed from the tables every package writes.

Pure reads, bounded by a window of days. Conversion compares customers who got an action with
customers held out (Decision.holdout), each with a 95% interval, so a marketer sees whether the
difference is larger than the noise.
"""

from __future__ import annotations

import importlib
import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, or_, select

from core.clock import as_utc, utcnow
from core.tables import AuditEntry, Decision, Event, OutboxMessage, Review, TriggerFiring

__all__ = [
    "ArmResult",
    "Insights",
    "activity_per_day",
    "collect",
    "conversion_by_arm",
    "mean_interval",
    "wilson_interval",
]

Z95 = 1.959964
CONVERSION_EVENT = "Order Completed"
ATTRIBUTION_DAYS = 7
REVENUE_KEYS = ("revenue", "total", "value")
# Audit kinds that may record a model call, and creative sources that mean the model was asked.
LLM_KIND_PREFIXES = ("creative.", "chat.", "llm.")
LLM_SOURCES = ("llm", "revised")
IN_CHUNK = 500


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion (sane at 0, 1 and small n)."""
    if n == 0:
        return (0.0, 0.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def mean_interval(values: list[float], z: float = Z95) -> tuple[float, float, float]:
    """Mean with a normal-approximation 95% interval: (mean, low, high)."""
    n = len(values)
    if n == 0:
        return (0.0, 0.0, 0.0)
    mean = sum(values) / n
    if n == 1:
        return (mean, mean, mean)
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    half = z * math.sqrt(var / n)
    return (mean, mean - half, mean + half)


@dataclass(frozen=True)
class ArmResult:
    """Conversion and revenue per customer for one arm (treated or holdout)."""

    arm: str
    customers: int
    conversions: int
    rate: float
    rate_low: float
    rate_high: float
    revenue_mean: float
    revenue_low: float
    revenue_high: float


@dataclass
class Insights:
    days: list[date]
    activity: dict[str, list[int]]
    block_reasons: list[tuple[str, int]]
    arms: list[ArmResult]
    llm_calls: list[int]
    llm_tokens: list[int]
    queue_ages_min: list[float]
    queue_overdue: int
    totals: dict[str, int] = field(default_factory=dict)


def _day_index(days: list[date]) -> dict[date, int]:
    return {d: i for i, d in enumerate(days)}


def _count_per_day(stamps: Sequence[datetime | None], days: list[date]) -> list[int]:
    index = _day_index(days)
    out = [0] * len(days)
    for ts in stamps:
        if ts is None:
            continue
        i = index.get(as_utc(ts).date())
        if i is not None:
            out[i] += 1
    return out


def _report(entry: AuditEntry) -> Mapping[str, Any]:
    """The guardrail report inside an audit payload (guardrails/ nests it under `report`)."""
    report = entry.payload.get("report")
    return report if isinstance(report, dict) else entry.payload


def _is_block(entry: AuditEntry) -> bool:
    """A real check that blocked (marketers' dry runs do not count)."""
    if not entry.kind.startswith("guardrail") or entry.kind.endswith("dry_run"):
        return False
    return _report(entry).get("outcome") == "block" or entry.kind.endswith(("block", "blocked"))


def _block_reasons(entry: AuditEntry) -> list[str]:
    report = _report(entry)
    reasons: list[str] = []
    for verdict in report.get("verdicts") or []:
        if isinstance(verdict, dict) and verdict.get("outcome") == "block":
            reasons += [str(r) for r in verdict.get("reasons") or [verdict.get("check", "?")]]
    if not reasons:
        reasons = [str(r) for r in report.get("reasons") or []]
    return reasons or ["unspecified"]


def _tokens(payload: Mapping[str, Any]) -> int | None:
    for key in ("tokens", "total_tokens", "llm_tokens"):
        value = payload.get(key)
        if isinstance(value, int | float) and value > 0:
            return int(value)
    usage = payload.get("usage")
    if isinstance(usage, dict):
        return _tokens(usage)
    return None


def activity_per_day(session: Session, days: list[date], since: datetime) -> dict[str, list[int]]:
    """Triggers fired, decisions made, messages sent and guardrail blocks, per day."""
    triggers = session.exec(
        select(TriggerFiring.fired_at).where(col(TriggerFiring.fired_at) >= since)
    ).all()
    decisions = session.exec(
        select(Decision.created_at).where(col(Decision.created_at) >= since)
    ).all()
    sent = session.exec(
        select(OutboxMessage.sent_at).where(
            OutboxMessage.status == "sent", col(OutboxMessage.sent_at) >= since
        )
    ).all()
    guard = session.exec(
        select(AuditEntry).where(
            col(AuditEntry.kind).startswith("guardrail"), col(AuditEntry.ts) >= since
        )
    ).all()
    blocks = [e.ts for e in guard if _is_block(e)]
    return {
        "triggers": _count_per_day(list(triggers), days),
        "decisions": _count_per_day(list(decisions), days),
        "sends": _count_per_day(list(sent), days),
        "blocks": _count_per_day(blocks, days),
    }


def _assignment_table() -> Any:
    """agents/' journey holdout assignments (treated/control per run), when that package exists."""
    try:
        return importlib.import_module("agents.tables").JourneyAssignment
    except (ImportError, AttributeError):
        return None


def conversion_by_arm(session: Session, since: datetime) -> list[ArmResult]:
    """Per arm, customers first exposed since `since` who ordered within ATTRIBUTION_DAYS.

    Exposure is a decision (Decision.holdout marks decisioning's control groups) or a journey
    assignment (agents/ puts a share of each journey's customers in a `control` arm that gets
    no decision at all); a customer's first exposure in each arm starts its window.
    """
    exposures: list[tuple[str, bool, datetime]] = [
        (c, bool(h), as_utc(t))
        for c, t, h in session.exec(
            select(Decision.customer_id, Decision.created_at, Decision.holdout)
            .where(col(Decision.created_at) >= since).limit(50_000)
        )
    ]  # fmt: skip
    assignment = _assignment_table()
    if assignment is not None:
        exposures += [
            (c, arm == "control", as_utc(t))
            for c, arm, t in session.exec(
                select(assignment.customer_id, assignment.arm, assignment.assigned_at)
                .where(col(assignment.assigned_at) >= since).limit(50_000)
            )
        ]  # fmt: skip
    first: dict[tuple[str, bool], datetime] = {}
    for customer_id, holdout, at in sorted(exposures, key=lambda e: e[2]):
        first.setdefault((customer_id, holdout), at)
    customers = {c for c, _ in first}
    orders: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
    members_all = sorted(customers)
    for start in range(0, len(members_all), IN_CHUNK):  # SQLite caps bound parameters
        chunk = members_all[start : start + IN_CHUNK]
        for order_customer, ts, props in session.exec(
            select(Event.customer_id, Event.timestamp, Event.properties).where(
                Event.type == "track",
                Event.event == CONVERSION_EVENT,
                col(Event.timestamp) >= since,
                col(Event.customer_id).in_(chunk),
            )
        ):
            amount = next(
                (props[k] for k in REVENUE_KEYS if isinstance(props.get(k), int | float)), 0
            )
            orders[str(order_customer)].append((as_utc(ts), float(amount)))
    out = []
    for holdout, arm in ((False, "treated"), (True, "holdout")):
        members = [(c, t) for (c, h), t in first.items() if h is holdout]
        converted = 0
        revenues: list[float] = []
        for customer_id, at in members:
            window = [
                a
                for ts, a in orders.get(customer_id, [])
                if at < ts <= at + timedelta(days=ATTRIBUTION_DAYS)
            ]
            converted += 1 if window else 0
            revenues.append(sum(window))
        low, high = wilson_interval(converted, len(members))
        mean, rlow, rhigh = mean_interval(revenues)
        rate = converted / len(members) if members else 0.0
        out.append(ArmResult(arm, len(members), converted, rate, low, high, mean, rlow, rhigh))
    return out


def collect(session: Session, *, window_days: int = 30) -> Insights:
    """Everything the dashboard draws, for the last `window_days` days (UTC)."""
    now = utcnow()
    today = now.date()
    days = [today - timedelta(days=window_days - 1 - i) for i in range(window_days)]
    since = datetime.combine(days[0], datetime.min.time(), tzinfo=now.tzinfo)
    activity = activity_per_day(session, days, since)
    guard = session.exec(
        select(AuditEntry).where(
            col(AuditEntry.kind).startswith("guardrail"), col(AuditEntry.ts) >= since
        )
    ).all()
    reasons: Counter[str] = Counter()
    for entry in guard:
        if _is_block(entry):
            reasons.update(_block_reasons(entry))
    llm_calls = [0] * len(days)
    llm_tokens = [0] * len(days)
    index = _day_index(days)
    llm_kinds = or_(*(col(AuditEntry.kind).startswith(p) for p in LLM_KIND_PREFIXES))
    for ts, payload in session.exec(
        select(AuditEntry.ts, AuditEntry.payload).where(col(AuditEntry.ts) >= since, llm_kinds)
    ):
        tokens = _tokens(payload)
        i = index.get(as_utc(ts).date())
        if i is None or (tokens is None and payload.get("source") not in LLM_SOURCES):
            continue
        llm_calls[i] += 1
        llm_tokens[i] += tokens or 0
    pending = session.exec(
        select(Review.created_at, Review.expires_at).where(Review.status == "pending")
    ).all()
    ages = [(now - as_utc(created)).total_seconds() / 60 for created, _ in pending]
    overdue = sum(1 for _, exp in pending if exp is not None and as_utc(exp) < now)
    return Insights(
        days=days,
        activity=activity,
        block_reasons=reasons.most_common(12),
        arms=conversion_by_arm(session, since),
        llm_calls=llm_calls,
        llm_tokens=llm_tokens,
        queue_ages_min=ages,
        queue_overdue=overdue,
        totals={k: sum(v) for k, v in activity.items()} | {"pending_reviews": len(pending)},
    )
