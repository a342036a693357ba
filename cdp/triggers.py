"""Declarative trigger rules (YAML) and what they do when an event is processed or time passes.

Three kinds of rule:
- `event`: an event (optionally with a trait condition after it) fires at once, e.g. first purchase.
- `after`: an event schedules a firing N minutes later unless another event comes first
  (abandoned cart; "no purchase for 90 days" is `on` and `unless` the same event).
- `threshold`: a trait crossing a value (false -> true) fires, e.g. churn_risk >= 0.7, or a
  segment entry such as lifecycle_stage == "at_risk".
A firing is a `core.tables.TriggerFiring` row with a unique dedup_key: exactly once per occasion.
Occasions older than `stale_after_minutes` (historical replays) are not fired.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import bindparam, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from cdp.audit_queue import AuditQueue, record
from cdp.tables import ScheduledTrigger
from cdp.traits import derive
from core.clock import as_utc
from core.db import REPO_ROOT
from core.tables import Customer, Event, Profile, TriggerFiring, new_id

__all__ = [
    "DEFAULT_RULES_PATH",
    "TIME_DEPENDENT_TRAITS",
    "DuePass",
    "TriggerConfigError",
    "TriggerSet",
    "combine_jobs",
    "fire",
    "load_rules",
    "oldest_pending_event_at",
    "on_event",
    "run_due",
]

DEFAULT_RULES_PATH = REPO_ROOT / "examples" / "triggers.yaml"
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}
_NAME = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9_\-]*$")]


class TriggerConfigError(ValueError):
    """The trigger YAML is unreadable or names a bad field; the message says which and why."""


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    trait: str = Field(min_length=1)
    op: Literal[">=", ">", "<=", "<", "==", "!="]
    value: Any

    def holds(self, computed: dict[str, Any]) -> bool:
        current = computed.get(self.trait)
        if current is None:
            return False
        try:
            return bool(_OPS[self.op](current, self.value))
        except TypeError:
            return False


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: _NAME
    journey: _NAME = Field(description="Journey slug the firing starts.")
    stale_after_minutes: int = Field(default=7 * 24 * 60, gt=0)


class EventRule(_Rule):
    kind: Literal["event"]
    event: str = Field(min_length=1, description="Track event name.")
    when: Condition | None = None
    once_per_customer: bool = False


class AfterRule(_Rule):
    kind: Literal["after"]
    event: str = Field(min_length=1, description="Track event that starts the wait.")
    unless: list[str] = Field(default_factory=list)
    after_minutes: int = Field(gt=0)


# Derived traits that change while time passes with no event (docs/cdp.md, "Time").
TIME_DEPENDENT_TRAITS = ("recency_days", "tenure_days", "lifecycle_stage", "churn_risk")


class ThresholdRule(_Rule, Condition):
    kind: Literal["threshold"]
    recheck_minutes: int | None = Field(
        default=None,
        gt=0,
        description="How often the condition is re-checked with time alone (no event); "
        "default once a day for time-dependent traits, never for the others.",
    )

    def recheck_every(self) -> timedelta | None:
        if self.recheck_minutes is not None:
            return timedelta(minutes=self.recheck_minutes)
        return timedelta(days=1) if self.trait in TIME_DEPENDENT_TRAITS else None


Rule = Annotated[EventRule | AfterRule | ThresholdRule, Field(discriminator="kind")]


class TriggerSet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    triggers: list[Rule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> TriggerSet:
        names = [r.name for r in self.triggers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"trigger names must be unique; repeated: {', '.join(dupes)}")
        return self

    def named(self, name: str) -> EventRule | AfterRule | ThresholdRule | None:
        return next((r for r in self.triggers if r.name == name), None)


def load_rules(path: Path | str | None = None) -> TriggerSet:
    """Read and validate a trigger file (default examples/triggers.yaml)."""
    path = Path(path) if path else DEFAULT_RULES_PATH
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise TriggerConfigError(f"{path}: cannot read trigger rules: {exc}") from exc
    try:
        return TriggerSet.model_validate(data)
    except ValidationError as exc:
        lines = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise TriggerConfigError(
            f"{path}: invalid trigger rules:\n  " + "\n  ".join(lines)
        ) from exc


def fire(
    session: Session,
    rule: EventRule | AfterRule | ThresholdRule,
    customer_id: str,
    dedup_key: str,
    data: dict[str, Any],
    now: datetime,
    audits: AuditQueue | None = None,
) -> bool:
    """Insert one firing unless its dedup_key exists; audited. True when it is new.

    `audits`: a batch's queue for the `trigger.fired` entry (appended now when None).
    """
    table: Any = TriggerFiring.__table__  # type: ignore[attr-defined]
    module: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = (
        module.insert(table)
        .on_conflict_do_nothing(index_elements=["dedup_key"])
        .returning(table.c.id)
    )
    result: Any = session.execute(
        stmt,
        {
            "id": new_id(),
            "trigger": rule.name,
            "journey_slug": rule.journey,
            "customer_id": customer_id,
            "dedup_key": dedup_key[:300],
            "fired_at": now,
            "data": data,
        },
    )
    if result.first() is None:  # dedup_key already fired
        return False
    record(
        session,
        audits,
        actor="cdp",
        kind="trigger.fired",
        subject_type="trigger_firing",
        subject_id=dedup_key[:200],
        customer_id=customer_id,
        payload={"trigger": rule.name, "journey": rule.journey, "data": data},
    )
    return True


def _stale(rule: EventRule | AfterRule | ThresholdRule, at: datetime, now: datetime) -> bool:
    return as_utc(at) < now - timedelta(minutes=rule.stale_after_minutes)


def on_event(
    session: Session,
    rules: TriggerSet,
    event: Event,
    customer_id: str,
    before: dict[str, Any],
    after: dict[str, Any],
    now: datetime,
    jobs: Jobs | None = None,
    audits: AuditQueue | None = None,
) -> int:
    """Apply every rule to one processed event; returns how many firings it made.

    `jobs` caches scheduled rows by (rule, customer) for a batch (see pipeline.py), `audits`
    queues its audit entries.
    """
    jobs = jobs if jobs is not None else {}
    fired = 0
    at = as_utc(event.timestamp)
    name = event.event if event.type == "track" else None
    for rule in rules.triggers:
        if isinstance(rule, AfterRule):
            if name in rule.unless:
                _cancel(session, rule, customer_id, event, at, jobs)
            if name == rule.event:
                _schedule(session, rule, customer_id, event, at, jobs)
            continue
        if isinstance(rule, ThresholdRule):
            fired += _threshold(session, rule, event, customer_id, before, after, now, jobs, audits)
            continue
        if _stale(rule, at, now):
            continue
        if name == rule.event and (rule.when is None or rule.when.holds(after)):
            suffix = "" if rule.once_per_customer else f":{event.message_id}"
            info = {"event": name, "message_id": event.message_id, "at": at.isoformat()}
            key = f"{rule.name}:{customer_id}{suffix}"
            fired += fire(session, rule, customer_id, key, info, now, audits)
    return fired


def _threshold(
    session: Session,
    rule: ThresholdRule,
    event: Event,
    customer_id: str,
    before: dict[str, Any],
    after: dict[str, Any],
    now: datetime,
    jobs: Jobs,
    audits: AuditQueue | None,
) -> int:
    """Fire on a false -> true crossing at this event; arm the re-check with time alone.

    For a rule that is re-checked, the scheduled row keeps whether the condition held when
    last looked at (`holds`, by an event or a re-check), and that is the "before": a crossing
    the re-check already fired is not fired again by the next event.
    """
    at = as_utc(event.timestamp)
    every = rule.recheck_every()
    job = _job(session, rule, customer_id, jobs) if every else None
    was = bool(job.data["holds"]) if job and "holds" in job.data else rule.holds(before)
    holds = rule.holds(after)
    fired = 0
    if holds and not was and not _stale(rule, at, now):
        data: dict[str, Any] = {
            "trait": rule.trait,
            "value": after.get(rule.trait),
            "message_id": event.message_id,
        }
        key = f"{rule.name}:{customer_id}:{event.message_id}"
        fired = int(fire(session, rule, customer_id, key, data, now, audits))
    if every is not None:
        if job is None:
            job = JobState(rule.name, customer_id, anchor_message_id="", anchor_at=at, due_at=at)
            jobs[(rule.name, customer_id)] = job
        if not job.anchor_message_id or as_utc(job.anchor_at) <= at:
            job.anchor_message_id, job.anchor_at = event.message_id, at
            job.due_at = at + every
        job.status, job.updated_at, job.data = "pending", at, {"holds": holds}
        job.dirty = True
    return fired


@dataclass
class JobState:
    """A `cdp_scheduled_triggers` row while a batch works on it (written back by the batch)."""

    rule: str
    customer_id: str
    anchor_message_id: str
    anchor_at: datetime
    due_at: datetime
    status: str = "pending"
    updated_at: datetime | None = None
    data: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
    dirty: bool = False


Jobs = dict[tuple[str, str], JobState | None]
_JOBS: Any = ScheduledTrigger.__table__  # type: ignore[attr-defined]


def _job_state(row: Any) -> JobState:
    return JobState(
        rule=row.rule,
        customer_id=row.customer_id,
        anchor_message_id=row.anchor_message_id,
        anchor_at=row.anchor_at,
        due_at=row.due_at,
        status=row.status,
        updated_at=row.updated_at,
        data=row.data,
        id=row.id,
    )


def preload_jobs(session: Session, customer_ids: list[str], jobs: Jobs) -> None:
    """Read the scheduled rows of many customers at once into `jobs`."""
    for start in range(0, len(customer_ids), 500):
        chunk = customer_ids[start : start + 500]
        for row in session.execute(_JOBS.select().where(_JOBS.c.customer_id.in_(chunk))):
            jobs[(row.rule, row.customer_id)] = _job_state(row)


def write_jobs(session: Session, jobs: Jobs) -> None:
    """Insert new and update changed job states (bulk)."""
    changed = [j for j in jobs.values() if j is not None and j.dirty]
    fresh = [j for j in changed if j.id is None]
    old = [j for j in changed if j.id is not None]
    fields = ("anchor_message_id", "anchor_at", "due_at", "status", "updated_at", "data")
    if fresh:
        session.execute(
            _JOBS.insert(),
            [
                {"rule": j.rule, "customer_id": j.customer_id, **{f: getattr(j, f) for f in fields}}
                for j in fresh
            ],
        )
    if old:
        stmt = (
            _JOBS.update()
            .where(_JOBS.c.id == bindparam("job_id"))
            .values(**{f: bindparam(f"v_{f}") for f in fields})
        )
        session.execute(
            stmt, [{"job_id": j.id, **{f"v_{f}": getattr(j, f) for f in fields}} for j in old]
        )
    for job in changed:
        job.dirty = False


def _job(
    session: Session, rule: AfterRule | ThresholdRule, customer_id: str, jobs: Jobs
) -> JobState | None:
    key = (rule.name, customer_id)
    if key not in jobs:
        row = session.execute(
            _JOBS.select().where(_JOBS.c.rule == rule.name, _JOBS.c.customer_id == customer_id)
        ).first()
        jobs[key] = _job_state(row) if row is not None else None
    return jobs[key]


def _unless_beats(job: JobState, at: datetime, message_id: str) -> bool:
    """Whether an `unless` event the job has seen came at or after an anchor at `at`.

    The job's data keeps the newest `unless` event seen (`unless_at`, `unless_message_id`),
    so an anchor processed after the event that cancels it (out of order) stays cancelled.
    The anchor event itself never counts (`no purchase for 90 days`: on and unless the same).
    """
    seen = job.data.get("unless_at")
    return (
        seen is not None
        and datetime.fromisoformat(seen) >= at
        and job.data.get("unless_message_id") != message_id
    )


def _cancel(
    session: Session, rule: AfterRule, customer_id: str, event: Event, at: datetime, jobs: Jobs
) -> None:
    job = _job(session, rule, customer_id, jobs)
    if job is None:  # nothing to cancel yet; remember the event for an anchor that comes late
        job = JobState(
            rule=rule.name,
            customer_id=customer_id,
            anchor_message_id="",
            anchor_at=at,
            due_at=at,
            status="cancelled",
            updated_at=at,
        )
        jobs[(rule.name, customer_id)] = job
    seen = job.data.get("unless_at")
    if seen is None or datetime.fromisoformat(seen) < at:
        job.data = {**job.data, "unless_at": at.isoformat(), "unless_message_id": event.message_id}
        job.dirty = True
    if job.status == "pending" and as_utc(job.anchor_at) <= at:
        job.status = "cancelled"
        job.updated_at = at
        job.dirty = True


def _schedule(
    session: Session, rule: AfterRule, customer_id: str, event: Event, at: datetime, jobs: Jobs
) -> None:
    job = _job(session, rule, customer_id, jobs)
    if job is not None and job.anchor_message_id and as_utc(job.anchor_at) >= at:
        return  # an older event arriving late does not move a newer schedule
    if job is None:
        job = JobState(
            rule=rule.name, customer_id=customer_id, anchor_message_id="", anchor_at=at, due_at=at
        )
        jobs[(rule.name, customer_id)] = job
    job.anchor_message_id = event.message_id
    job.anchor_at = at
    job.due_at = at + timedelta(minutes=rule.after_minutes)
    job.status = "cancelled" if _unless_beats(job, at, event.message_id) else "pending"
    job.updated_at = at
    unless = {k: v for k, v in job.data.items() if k.startswith("unless_")}
    job.data = {"event": event.event, "message_id": event.message_id, **unless}
    job.dirty = True


def combine_jobs(kept: ScheduledTrigger, gone: ScheduledTrigger) -> None:
    """The survivor's row for one rule after a merge (identity.py): the newer anchor wins, the
    newest `unless` event of either side is kept and cancels an anchor it follows."""
    unless = [j.data for j in (kept, gone) if j.data.get("unless_at")]
    if gone.anchor_message_id and (
        not kept.anchor_message_id or as_utc(gone.anchor_at) > as_utc(kept.anchor_at)
    ):
        kept.anchor_message_id, kept.anchor_at = gone.anchor_message_id, gone.anchor_at
        kept.due_at, kept.status, kept.data = gone.due_at, gone.status, dict(gone.data)
    data = {k: v for k, v in kept.data.items() if not k.startswith("unless_")}
    if unless:
        newest = max(unless, key=lambda d: str(d["unless_at"]))
        data["unless_at"], data["unless_message_id"] = (
            newest["unless_at"],
            newest.get("unless_message_id"),
        )
    kept.data = data
    state = _job_state(kept)
    if kept.status == "pending" and _unless_beats(
        state, as_utc(kept.anchor_at), kept.anchor_message_id
    ):
        kept.status = "cancelled"


def oldest_pending_event_at(session: Session) -> datetime | None:
    """The earliest event time among accepted events not processed yet (None: none waiting).

    A delayed trigger due at or after this time may still be cancelled by one of those events,
    so the scheduler leaves it alone until they are processed.
    """
    events: Any = Event.__table__  # type: ignore[attr-defined]
    oldest = session.execute(
        select(func.min(events.c.timestamp)).where(events.c.processed_at.is_(None))
    ).scalar()
    return as_utc(oldest) if oldest is not None else None


def _recheck(
    session: Session, rule: ThresholdRule, job: ScheduledTrigger, now: datetime, every: timedelta
) -> int:
    """Re-check a threshold with time alone: the profile derived as of `now`; fire a crossing.

    One firing per crossing after the customer's latest event (dedup key `...:recheck:<its
    messageId>`). A re-check due longer ago than `stale_after_minutes` (a replay of old data,
    a long outage) records the state without firing, as a late delayed trigger expires.
    """
    profile = session.get(Profile, job.customer_id)
    if profile is None or not profile.computed:
        job.status = "expired"
        return 0
    current = derive(profile.computed, now)
    holds = rule.holds(current)
    fired = 0
    if holds and not job.data.get("holds") and not _stale(rule, job.due_at, now):
        data = {
            "trait": rule.trait,
            "value": current.get(rule.trait),
            "as_of": now.isoformat(),
            "since_message_id": job.anchor_message_id,
        }
        key = f"{rule.name}:{job.customer_id}:recheck:{job.anchor_message_id}"
        fired = int(fire(session, rule, job.customer_id, key, data, now))
    job.data = {"holds": holds}
    job.due_at = now + every
    return fired


class DuePass(NamedTuple):
    claimed: int  # jobs settled by the pass: `limit` of them means more may be due
    fired: int


def run_due(session: Session, rules: TriggerSet, now: datetime, *, limit: int = 1000) -> DuePass:
    """Settle up to `limit` pending scheduled triggers due by `now`, oldest first (caller
    commits): fire, expire, or re-check and re-arm.

    Only jobs due before the oldest still-unprocessed event are considered: an accepted
    `Order Completed` waiting in the queue must get its chance to cancel the cart reminder, so
    the `unless` condition is judged on everything accepted up to the due time. (One global
    bound rather than a per-customer check: pending events are not resolved to a customer
    yet, and the bound costs one indexed query.)
    A job due more than `stale_after_minutes` ago is marked `expired` instead of fired.
    """
    from cdp.profiles import get_profile_view

    query = select(ScheduledTrigger).where(
        ScheduledTrigger.status == "pending", col(ScheduledTrigger.due_at) <= now
    )
    oldest = oldest_pending_event_at(session)  # read before the jobs: see docs/cdp.md
    if oldest is not None:
        query = query.where(col(ScheduledTrigger.due_at) < oldest)
    # Claimed atomically: on PostgreSQL a job another scheduler (or a processing batch) holds
    # is skipped, not waited for; SQLite's writers are serialised by BEGIN IMMEDIATE.
    query = query.order_by(col(ScheduledTrigger.due_at)).limit(limit)
    jobs = list(session.exec(query.with_for_update(skip_locked=True)).all())
    if jobs and session.get_bind().dialect.name == "postgresql":
        # A processing batch holds the customers it works on (cdp/partitions.py): their jobs
        # wait for the next pass instead of racing the batch's view of them.
        ids = sorted({j.customer_id for j in jobs})
        free = set(
            session.exec(
                select(Customer.id)
                .where(col(Customer.id).in_(ids))
                .with_for_update(skip_locked=True)
            ).all()
        )
        jobs = [j for j in jobs if j.customer_id in free]
    fired = 0
    for job in jobs:
        rule = rules.named(job.rule)
        every = rule.recheck_every() if isinstance(rule, ThresholdRule) else None
        if isinstance(rule, ThresholdRule) and every is not None:
            fired += _recheck(session, rule, job, now, every)
        elif not isinstance(rule, AfterRule) or _stale(rule, job.due_at, now):
            job.status = "expired"
        else:
            view = get_profile_view(session, job.customer_id, as_of=now)
            data = {k: v for k, v in job.data.items() if not k.startswith("unless_")}
            data["due_at"] = as_utc(job.due_at).isoformat()
            if view is not None and view.computed.get("open_cart"):
                data["open_cart"] = view.computed["open_cart"]
            key = f"{rule.name}:{job.customer_id}:{job.anchor_message_id}"
            fired += fire(session, rule, job.customer_id, key, data, now)
            job.status = "fired"
        job.updated_at = now
        session.add(job)
    session.flush()
    return DuePass(len(jobs), fired)
