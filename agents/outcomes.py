"""The closed loop: credit outcomes to the actions that preceded them, and compare holdouts.

Outcomes are events in `core.tables.Event` (a purchase, a click, an unsubscribe). Each is
credited to the last message *delivered* to that customer before it, within that message's
attribution window (last touch), once: `journey_attributions` is unique per (event, kind), so
replaying events, re-running a node, or the two paths that credit a goal (`settle_run` at the
end of a run and `attribute_outcomes` over the event stream) never count one outcome twice,
not even for two different decisions. Each credit calls `record_outcome`, which updates
decisioning's bandit and propensity data.

Only outbox rows the dispatcher marked `sent` count, from their `sent_at`: a message that was
held, dead-lettered or is still pending reached nobody and must not teach the bandit anything,
neither a reward nor the zero of `settle_expired`. The window is the journey's `goal.window`
(its newest runnable version) for journey messages, and the caller's default otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, case, literal
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from agents.journey.context import RecordOutcome
from agents.journey.spec import JourneySpec, JourneySpecError, load_journey_yaml, parse_duration
from agents.journey.store import RUNNABLE
from agents.tables import Attribution, JourneyAssignment
from core.clock import as_utc
from core.tables import Event, Journey, OutboxMessage

__all__ = [
    "DEFAULT_WINDOW",
    "OUTCOME_EVENTS",
    "ArmFigures",
    "AttributionWindows",
    "HoldoutComparison",
    "attribute_outcomes",
    "credit",
    "holdout_comparison",
    "settle_expired",
    "settle_run",
]

# Segment-spec event names -> (outcome kind, reward for the bandit)
OUTCOME_EVENTS: Mapping[str, tuple[str, float]] = {
    "Order Completed": ("conversion", 1.0),
    "Email Link Clicked": ("click", 0.3),
    "Push Notification Tapped": ("click", 0.3),
    "Email Unsubscribed": ("unsubscribe", -1.0),
    "SMS Unsubscribed": ("unsubscribe", -1.0),
}
DEFAULT_WINDOW = timedelta(days=7)  # messages outside a journey, and journeys without a goal


@lru_cache(maxsize=256)
def _goal_window(definition: str) -> timedelta | None:
    """A stored journey definition's goal window (cached: definitions are immutable rows)."""
    try:
        spec = load_journey_yaml(definition)
    except JourneySpecError:
        return None
    return parse_duration(spec.goal.window) if spec.goal else None


class AttributionWindows:
    """Each message's attribution window: its journey's `goal.window`, else `default`.

    The journey's newest runnable (active or paused) version decides, or its newest version
    when none is runnable, as `agents.journey.store.load_spec` would pick it.
    """

    def __init__(self, session: Session, default: timedelta = DEFAULT_WINDOW) -> None:
        self.default = default
        newest: dict[str, tuple[tuple[bool, int], str]] = {}  # slug -> (rank, definition)
        for slug, version, status, definition in session.exec(
            select(Journey.slug, Journey.version, Journey.status, Journey.definition)
        ).all():
            rank = (status in RUNNABLE, version)
            if slug not in newest or rank > newest[slug][0]:
                newest[slug] = (rank, definition)
        self.by_slug = {
            slug: window
            for slug, (_, definition) in newest.items()
            if (window := _goal_window(definition)) is not None
        }

    def of(self, journey_slug: str | None) -> timedelta:
        return self.by_slug.get(journey_slug or "", self.default)

    def sent_since(self, moment: datetime) -> ColumnElement[bool]:
        """SQL: the row was sent no earlier than its own window before `moment`."""
        return col(OutboxMessage.sent_at) >= self._cutoff(moment)

    def sent_before(self, moment: datetime) -> ColumnElement[bool]:
        """SQL: the row's own window had passed by `moment`."""
        return col(OutboxMessage.sent_at) < self._cutoff(moment)

    def _cutoff(self, moment: datetime) -> Any:
        kind = OutboxMessage.__table__.c.sent_at.type  # type: ignore[attr-defined]
        default = literal(moment - self.default, kind)
        if not self.by_slug:
            return default
        whens = {slug: literal(moment - w, kind) for slug, w in self.by_slug.items()}
        return case(whens, value=col(OutboxMessage.journey_slug), else_=default)


def credit(
    session: Session,
    record_outcome: RecordOutcome,
    *,
    source_key: str,
    decision_id: str,
    kind: str,
    reward: float,
    customer_id: str,
    run_id: str | None = None,
    journey_slug: str | None = None,
    revenue: float = 0.0,
) -> bool:
    """Record one attribution and tell decisioning; False when this outcome was already
    credited (to this decision or to another one: an outcome has one last touch)."""
    seen = session.exec(
        select(Attribution.id).where(Attribution.source_key == source_key, Attribution.kind == kind)
    ).first()
    if seen is not None:
        return False
    try:
        with session.begin_nested():  # a concurrent writer may win the unique key
            session.add(
                Attribution(
                    source_key=source_key,
                    decision_id=decision_id,
                    kind=kind,
                    reward=reward,
                    revenue=revenue,
                    customer_id=customer_id,
                    run_id=run_id,
                    journey_slug=journey_slug,
                )
            )
    except IntegrityError:
        return False
    record_outcome(session, decision_id=decision_id, reward=reward, kind=kind)
    return True


def _revenue(event: Event, prop: str = "revenue") -> float:
    value = (event.properties or {}).get(prop)
    try:
        return float(value) if value is not None else 0.0
    except (TypeError, ValueError):
        return 0.0


def settle_run(
    session: Session,
    *,
    record_outcome: RecordOutcome,
    spec: JourneySpec,
    run_id: str,
    customer_id: str,
    results: Mapping[str, Any],
    goal: Event | None,
) -> int:
    """At the end of a run that reached its goal, credit the last action it delivered.

    Only a message sent before the goal event and within the journey's goal window counts.
    A run that ends without its goal is not scored here: the customer may still convert
    within the window; `settle_expired` records the zero once the window has passed.
    """
    queued = [
        r["decision_id"]
        for r in results.values()
        if r.get("outcome") == "queued" and r.get("decision_id")
    ]
    if not queued or goal is None:
        return 0
    at = as_utc(goal.timestamp)
    window = parse_duration(spec.goal.window) if spec.goal else DEFAULT_WINDOW
    touch = session.exec(
        select(OutboxMessage)
        .where(OutboxMessage.run_id == run_id, col(OutboxMessage.decision_id).in_(queued))
        .where(OutboxMessage.status == "sent")
        .where(col(OutboxMessage.sent_at) <= at, col(OutboxMessage.sent_at) >= at - window)
        .order_by(col(OutboxMessage.sent_at).desc())
    ).first()
    if touch is None or touch.decision_id is None:
        return 0
    prop = spec.goal.revenue_property if spec.goal else "revenue"
    return int(
        credit(
            session,
            record_outcome,
            source_key=goal.message_id,
            decision_id=touch.decision_id,
            kind="conversion",
            reward=1.0,
            customer_id=customer_id,
            run_id=run_id,
            journey_slug=spec.slug,
            revenue=_revenue(goal, prop),
        )
    )


def settle_expired(
    session: Session,
    *,
    record_outcome: RecordOutcome,
    now: datetime,
    window: timedelta = DEFAULT_WINDOW,
) -> int:
    """Delivered actions whose window passed without a conversion get a zero reward, once.

    `window` is the default for messages outside a journey; a journey's own goal window
    applies to its messages. Messages never sent are not scored at all.
    """
    windows = AttributionWindows(session, window)
    credited = select(Attribution.decision_id).where(
        col(Attribution.kind).in_(["conversion", "no_conversion"])
    )
    rows = session.exec(
        select(OutboxMessage)
        .where(col(OutboxMessage.decision_id).is_not(None))
        .where(OutboxMessage.status == "sent", windows.sent_before(now))
        .where(col(OutboxMessage.decision_id).not_in(credited))
        .order_by(col(OutboxMessage.sent_at))
        .limit(1000)
    ).all()
    return sum(
        credit(
            session,
            record_outcome,
            source_key=f"expired:{row.decision_id}",
            decision_id=str(row.decision_id),
            kind="no_conversion",
            reward=0.0,
            customer_id=str(row.customer_id),
            run_id=row.run_id,
            journey_slug=row.journey_slug,
        )
        for row in rows
    )


def attribute_outcomes(
    session: Session,
    *,
    record_outcome: RecordOutcome,
    since: datetime,
    window: timedelta = DEFAULT_WINDOW,
    events: Mapping[str, tuple[str, float]] = OUTCOME_EVENTS,
) -> int:
    """Credit outcome events *processed* since `since` to the last message delivered before
    each, within that message's window (`window` for messages outside a journey).

    Processed, not received: an event has its customer only once the CDP worker has
    resolved its identity, which can be long after it arrived when the worker has a backlog.
    """
    rows = session.exec(
        select(Event)
        .where(col(Event.event).in_(list(events)), col(Event.processed_at) >= since)
        .where(col(Event.customer_id).is_not(None))
        .order_by(col(Event.id))
    ).all()
    if not rows:
        return 0
    windows = AttributionWindows(session, window)
    credited = 0
    for event in rows:
        kind, reward = events[str(event.event)]
        at = as_utc(event.timestamp)
        touch = session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.customer_id == event.customer_id)
            .where(col(OutboxMessage.decision_id).is_not(None))
            .where(OutboxMessage.status == "sent", col(OutboxMessage.sent_at) <= at)
            .where(windows.sent_since(at))
            .order_by(col(OutboxMessage.sent_at).desc())
        ).first()
        if touch is None or touch.decision_id is None:
            continue
        credited += credit(
            session,
            record_outcome,
            source_key=event.message_id,
            decision_id=touch.decision_id,
            kind=kind,
            reward=reward,
            customer_id=str(event.customer_id),
            run_id=touch.run_id,
            journey_slug=touch.journey_slug,
            revenue=_revenue(event) if kind == "conversion" else 0.0,
        )
    return credited


@dataclass(frozen=True)
class ArmFigures:
    customers: int
    conversions: int
    conversion_rate: float
    conversion_rate_ci: tuple[float, float]
    revenue_per_customer: float
    revenue_per_customer_ci: tuple[float, float]


@dataclass(frozen=True)
class HoldoutComparison:
    journey_slug: str
    treated: ArmFigures
    control: ArmFigures
    conversion_lift: float  # treated - control, absolute
    conversion_lift_ci: tuple[float, float]
    revenue_lift: float
    revenue_lift_ci: tuple[float, float]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_Z = 1.96  # 95% intervals


def _wilson(k: int, n: int) -> tuple[float, float]:
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    denom = 1 + _Z**2 / n
    centre = (p + _Z**2 / (2 * n)) / denom
    half = _Z * math.sqrt(p * (1 - p) / n + _Z**2 / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def _mean_sd(values: list[float]) -> tuple[float, float]:
    if not values:
        return 0.0, 0.0
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1) if len(values) > 1 else 0.0
    return mean, math.sqrt(var)


def _arm(converted: list[bool], revenue: list[float]) -> ArmFigures:
    n, k = len(converted), sum(converted)
    mean, sd = _mean_sd(revenue)
    half = _Z * sd / math.sqrt(n) if n else 0.0
    return ArmFigures(n, k, k / n if n else 0.0, _wilson(k, n), mean, (mean - half, mean + half))


def holdout_comparison(
    session: Session, journey_slug: str, *, spec: JourneySpec | None = None
) -> HoldoutComparison:
    """Conversion rate and revenue per customer, treated vs control, with 95% intervals.

    A customer converts when the goal event arrives within the goal window after assignment;
    revenue is the sum of the goal events' revenue property in that window.
    """
    goal_name = spec.goal.event if spec and spec.goal else "Order Completed"
    window = parse_duration(spec.goal.window) if spec and spec.goal else timedelta(days=14)
    prop = spec.goal.revenue_property if spec and spec.goal else "revenue"
    assignments = session.exec(
        select(JourneyAssignment).where(JourneyAssignment.journey_slug == journey_slug)
    ).all()
    ids = sorted({a.customer_id for a in assignments})
    by_customer: dict[str, list[Event]] = {}
    for start in range(0, len(ids), 500):
        for event in session.exec(
            select(Event).where(
                Event.event == goal_name, col(Event.customer_id).in_(ids[start : start + 500])
            )
        ).all():
            by_customer.setdefault(str(event.customer_id), []).append(event)
    arms: dict[str, tuple[list[bool], list[float]]] = {"treated": ([], []), "control": ([], [])}
    for a in assignments:
        begin = as_utc(a.assigned_at)
        hits = [
            e
            for e in by_customer.get(a.customer_id, [])
            if begin <= as_utc(e.timestamp) <= begin + window
        ]
        converted, revenue = arms.setdefault(a.arm, ([], []))
        converted.append(bool(hits))
        revenue.append(sum(_revenue(e, prop) for e in hits))
    treated, control = _arm(*arms["treated"]), _arm(*arms["control"])
    lift = treated.conversion_rate - control.conversion_rate
    se = math.sqrt(
        sum(
            f.conversion_rate * (1 - f.conversion_rate) / f.customers
            for f in (treated, control)
            if f.customers
        )
    )
    rev_lift = treated.revenue_per_customer - control.revenue_per_customer
    rev_se = math.sqrt(
        sum(
            ((hi - lo) / (2 * _Z)) ** 2
            for lo, hi in (treated.revenue_per_customer_ci, control.revenue_per_customer_ci)
        )
    )
    return HoldoutComparison(
        journey_slug,
        treated,
        control,
        lift,
        (lift - _Z * se, lift + _Z * se),
        rev_lift,
        (rev_lift - _Z * rev_se, rev_lift + _Z * rev_se),
    )
