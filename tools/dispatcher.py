"""The outbox dispatcher: claims due messages, checks pauses and send-time rules, sends, retries.

Delivery state lives in the outbox row, so a crash loses nothing:
- a claim marks rows `sending` with a lease (`next_attempt_at = now + lease_s`). That value is
  also the claim's token: right before the provider call the dispatcher renews the lease with
  a compare-and-set on it (`tools.outbox.update_if_claimed`), and records the result with
  another; a row whose lease ran out while it waited in a batch may have been claimed by
  another dispatcher, and then this one skips it. So each provider call is made by the one
  dispatcher that owns the row at that moment, and owns it for a whole lease;
- a row whose owner died mid-send is claimed again when its lease runs out and re-sent with
  the *same* key, which providers that dedupe on it (capture server, sandboxes, Twilio-style
  APIs) turn into a no-op. Only a crash (or a single call outlasting `lease_s`) between the
  provider accepting and the row being marked sent leads to that second call: the key is the
  guard there, and keep `lease_s` well above the adapters' timeouts;
- PostgreSQL claims with `FOR UPDATE SKIP LOCKED`, so several dispatchers share one outbox;
  SQLite has a single writer (`BEGIN IMMEDIATE`), which serialises claims;
- transient failures are retried on a persisted schedule that tenacity computes
  (tools/retry_schedule.py): exponential backoff with jitter, never sooner than the provider's
  Retry-After; permanent failures and the last attempt go to `dead` with the reason;
- a paused channel/journey/everything turns due rows into `held`; they are due again as soon as
  the pause is lifted (the next poll, `poll_interval_s`). A send-time check (`pre_send`) may
  hold or block a message too; its checks and reasons go to `last_error` and the audit.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, Protocol

from sqlalchemy import or_
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from core import audit
from core.clock import as_utc, utcnow
from core.controls import active_pauses, is_paused
from core.db import is_postgres, session_scope
from core.domain import GuardrailReport, Outcome
from core.tables import OutboxMessage
from tools.channels.base import Channel, Delivery, PermanentSendError, TransientSendError
from tools.channels.registry import ChannelRegistry
from tools.outbox import update_if_claimed
from tools.retry_schedule import RetrySchedule

__all__ = [
    "DispatchStats",
    "Dispatcher",
    "PreSend",
    "RetryPolicy",
    "SendCheck",
    "TokenBucket",
]

log = logging.getLogger("cjo.dispatcher")
ACTOR = "system:dispatcher"
_CLAIMABLE = ("pending", "failed", "held", "sending")

# What a send-time check answers: a bare verdict, or the guardrail report behind it (whose
# failing checks and reasons are then recorded on the row and in the audit).
SendCheck = Literal["send", "hold", "block"] | GuardrailReport


class PreSend(Protocol):
    """A send-time check (guardrails): `send`, `hold` (re-check later) or `block` (dead)."""

    def __call__(self, session: Session, message: OutboxMessage) -> SendCheck: ...


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How long to wait between attempts, when to give up, and how long a claim lasts."""

    max_attempts: int = 8
    base_s: float = 2.0
    cap_s: float = 600.0
    lease_s: float = 120.0  # per message, renewed right before its provider call
    hold_recheck_s: float = 60.0
    poll_interval_s: float = 0.5
    pause_check_s: float = 0.2

    def __post_init__(self) -> None:
        if self.lease_s <= 0:
            raise ValueError("lease_s: must be positive (the lease is the claim token)")

    def schedule(self) -> RetrySchedule:
        return RetrySchedule(max_attempts=self.max_attempts, base_s=self.base_s, cap_s=self.cap_s)


class TokenBucket:
    """`rate` sends per second with bursts up to `burst`; `take()` is False when empty."""

    def __init__(
        self, rate: float, burst: float | None = None, now: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self.tokens = self.burst
        self._now = now
        self._last = now()

    def _refill(self) -> None:
        current = self._now()
        self.tokens = min(self.burst, self.tokens + (current - self._last) * self.rate)
        self._last = current

    def available(self) -> int:
        self._refill()
        return int(self.tokens)

    def take(self) -> bool:
        self._refill()
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


@dataclass
class DispatchStats:
    """What one `run_once` did; `lost`: claims another dispatcher took over after the lease."""

    claimed: int = 0
    sent: int = 0
    retried: int = 0
    held: int = 0
    dead: int = 0
    lost: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def add(self, other: DispatchStats) -> None:
        self.claimed += other.claimed
        self.sent += other.sent
        self.retried += other.retried
        self.held += other.held
        self.dead += other.dead
        self.lost += other.lost
        for reason, count in other.errors.items():
            self.errors[reason] = self.errors.get(reason, 0) + count


@dataclass(frozen=True)
class _Claim:
    """A row this dispatcher claimed (a detached snapshot) and the lease it holds: the token."""

    row: OutboxMessage
    lease: datetime


@dataclass(frozen=True)
class _Verdict:
    """A send-time check's answer, with what the audit and `last_error` should say."""

    action: Literal["send", "hold", "block"]
    reasons: str = ""
    checks: tuple[dict[str, object], ...] = ()
    hold_until: datetime | None = None

    def reason(self, prefix: str) -> str:
        return f"{prefix}: {self.reasons}" if self.reasons else prefix

    def detail(self) -> dict[str, object]:
        if not self.checks:
            return {}
        until = self.hold_until.isoformat() if self.hold_until else None
        return {"checks": list(self.checks), "hold_until": until}


def _read_check(result: SendCheck) -> _Verdict:
    """The check's decision, plus the failing checks when it carries its verdicts.

    A `GuardrailReport`, or a plain "send" | "hold" | "block" string; the string may be a
    `guardrails.send_check.SendCheck` (a str subclass) carrying `.verdicts` and `.hold_until`.
    """
    action: Literal["send", "hold", "block"]
    if isinstance(result, GuardrailReport):
        action = (
            "send"
            if result.outcome == Outcome.allow
            else "block"
            if result.outcome == Outcome.block
            else "hold"  # hold, or escalate: a reviewer cannot be asked from here
        )
    elif result in ("send", "hold", "block"):
        action = result
    else:
        raise TypeError(f"pre_send: returned {result!r}; expected send/hold/block or a report")
    verdicts = getattr(result, "verdicts", None) or ()
    hold_until = getattr(result, "hold_until", None)
    failing = [v for v in verdicts if v.outcome != Outcome.allow]
    return _Verdict(
        str(action),  # type: ignore[arg-type]  # a SendCheck becomes the plain string
        reasons="; ".join(f"{v.check}: {', '.join(v.reasons) or v.outcome.value}" for v in failing),
        checks=tuple(
            {"check": v.check, "outcome": v.outcome.value, "reasons": list(v.reasons)}
            for v in failing
        ),
        hold_until=as_utc(hold_until) if hold_until else None,
    )


def _delivery(row: OutboxMessage) -> Delivery:
    return Delivery(
        message_id=row.id,
        key=row.idempotency_key,
        channel=row.channel,
        payload=dict(row.payload),
        customer_id=row.customer_id,
        journey_slug=row.journey_slug,
        run_id=row.run_id,
        decision_id=row.decision_id,
        action_id=row.action_id,
        attempt=row.attempts + 1,
        created_at=row.created_at,
    )


class Dispatcher:
    """Delivers the outbox through `channels`; run `run_once` or use it as a BackgroundService."""

    name = "outbox-dispatcher"

    def __init__(
        self,
        engine: Engine,
        channels: ChannelRegistry,
        *,
        pre_send: PreSend | None = None,
        clock: Callable[[], datetime] = utcnow,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.engine = engine
        self.channels = channels
        self.pre_send = pre_send
        self.clock = clock
        self.policy = policy or RetryPolicy()
        self.schedule = self.policy.schedule()
        self.buckets = {
            name: TokenBucket(channels.rates.get(name, 50.0)) for name in channels.channels
        }
        self._pauses: list[tuple[str, str]] = []
        self._pauses_at = float("-inf")
        self._stop = threading.Event()
        self._task: asyncio.Task[None] | None = None

    # -- one pass ---------------------------------------------------------------------------

    def run_once(self, limit: int = 100) -> DispatchStats:
        """Claim up to `limit` due messages and deliver each; returns what happened."""
        stats = DispatchStats()
        for claim in self._claim(limit, stats):
            self._deliver(claim, stats)
        return stats

    def _claim(self, limit: int, stats: DispatchStats) -> list[_Claim]:
        now = self.clock()
        lease = now + timedelta(seconds=self.policy.lease_s)
        with session_scope(self.engine) as session:
            pauses = active_pauses(session)
            if any(p.scope == "all" for p in pauses):
                stats.held += self._hold_due(session, now, everything=True)
                return []
            paused_channels = {p.target for p in pauses if p.scope == "channel"}
            paused_journeys = {p.target for p in pauses if p.scope == "journey"}
            stats.held += self._hold_due(
                session, now, channels=paused_channels, journeys=paused_journeys
            )
            claimed: list[_Claim] = []
            self._dead_letter_unknown(session, now, stats)
            for channel in self.channels.channels:
                if channel in paused_channels or len(claimed) >= limit:
                    continue
                budget = min(limit - len(claimed), self.buckets[channel].available())
                if budget <= 0:
                    continue
                query = (
                    select(OutboxMessage)
                    .where(
                        OutboxMessage.channel == channel,
                        col(OutboxMessage.status).in_(_CLAIMABLE),
                        col(OutboxMessage.next_attempt_at) <= now,
                    )
                    .order_by(col(OutboxMessage.next_attempt_at))
                    .limit(budget)
                )
                if paused_journeys:
                    query = query.where(
                        or_(
                            col(OutboxMessage.journey_slug).is_(None),
                            col(OutboxMessage.journey_slug).not_in(paused_journeys),
                        )
                    )
                if is_postgres(self.engine):
                    query = query.with_for_update(skip_locked=True)
                for row in session.exec(query).all():
                    # due means next_attempt_at <= now < lease: a new token, never a reused one
                    row.status = "sending"
                    row.next_attempt_at = lease
                    session.add(row)
                    claimed.append(_Claim(row, lease))
            stats.claimed += len(claimed)
        return claimed

    def _hold_due(
        self,
        session: Session,
        now: datetime,
        *,
        everything: bool = False,
        channels: set[str] | None = None,
        journeys: set[str] | None = None,
    ) -> int:
        """Mark due rows of paused scopes `held` (one audit entry per row) and count them."""
        if not everything and not channels and not journeys:
            return 0
        query = select(OutboxMessage).where(
            # `sending` past its lease: a dispatcher died mid-send; hold it like the others
            col(OutboxMessage.status).in_(("pending", "failed", "sending")),
            col(OutboxMessage.next_attempt_at) <= now,
        )
        if not everything:
            query = query.where(
                or_(
                    col(OutboxMessage.channel).in_(channels or set()),
                    col(OutboxMessage.journey_slug).in_(journeys or set()),
                )
            )
        if is_postgres(self.engine):
            query = query.with_for_update(skip_locked=True)
        rows = session.exec(query.limit(1000)).all()
        for row in rows:
            self._mark_held(session, row, now, "paused by a kill switch")
        return len(rows)

    def _dead_letter_unknown(self, session: Session, now: datetime, stats: DispatchStats) -> None:
        query = select(OutboxMessage).where(
            col(OutboxMessage.status).in_(_CLAIMABLE),
            col(OutboxMessage.channel).not_in(self.channels.channels),
            col(OutboxMessage.next_attempt_at) <= now,
        )
        if is_postgres(self.engine):
            query = query.with_for_update(skip_locked=True)
        for row in session.exec(query.limit(100)).all():
            self._mark_dead(session, row, now, f"channel: no adapter for {row.channel!r}")
            stats.dead += 1

    # -- one message ------------------------------------------------------------------------

    def _deliver(self, claim: _Claim, stats: DispatchStats) -> None:
        """Renew the claim (or find it lost), run the send-time checks, then send."""
        channel = self.channels.get(claim.row.channel)
        assert channel is not None  # claimed per registered channel
        # No send-time check to run: a cached view of the kill switch (at most
        # `pause_check_s` old) saves reading the controls per message.
        exact = self.pre_send is not None or self._recently_paused(claim.row)
        with session_scope(self.engine) as session:
            now = self.clock()
            lease = max(claim.lease, now + timedelta(seconds=self.policy.lease_s))
            if not update_if_claimed(session, claim.row.id, claim.lease, next_attempt_at=lease):
                stats.lost += 1  # its lease ran out while it waited; another dispatcher has it
                return
            delivery = _delivery(claim.row)
            if exact:
                row = session.get(OutboxMessage, claim.row.id)
                assert row is not None  # just updated, and locked by that update
                if self._held_or_blocked(session, row, now, stats):
                    return
                delivery = _delivery(row)
        self._send(channel, _Claim(claim.row, lease), delivery, stats)

    def _held_or_blocked(
        self, session: Session, row: OutboxMessage, now: datetime, stats: DispatchStats
    ) -> bool:
        """Apply a pause or the send-time check to `row`; True when it must not be sent now."""
        if is_paused(session, channel=row.channel, journey_slug=row.journey_slug):
            self._mark_held(session, row, now, "paused by a kill switch")
            stats.held += 1
            return True
        if self.pre_send is None:
            return False
        try:
            with session.begin_nested():  # a failed check leaves the row's transaction usable
                verdict = _read_check(self.pre_send(session, row))
        except Exception as exc:  # a check that cannot decide never lets the message out
            log.exception("send-time check failed for outbox row %s", row.id)
            recheck = now + timedelta(seconds=self.policy.hold_recheck_s)
            self._mark_held(session, row, recheck, f"send-time check failed: {exc!r}"[:500])
            stats.held += 1
            return True
        if verdict.action == "hold":
            until = verdict.hold_until
            if until is None or until <= now:
                until = now + timedelta(seconds=self.policy.hold_recheck_s)
            reason = verdict.reason("held by a send-time check")
            self._mark_held(session, row, until, reason, verdict.detail())
            stats.held += 1
            return True
        if verdict.action == "block":
            reason = verdict.reason("blocked by a send-time check")
            self._mark_dead(session, row, now, reason, verdict.detail())
            stats.dead += 1
            return True
        return False

    def _recently_paused(self, row: OutboxMessage) -> bool:
        """Whether a pause covers `row`, from a snapshot of the controls refreshed every
        `pause_check_s`; a covered row is then re-checked exactly (and held) in `_deliver`."""
        now = time.monotonic()
        if now - self._pauses_at > self.policy.pause_check_s:
            with Session(self.engine) as session:
                self._pauses = [(p.scope, p.target) for p in active_pauses(session)]
            self._pauses_at = now
        for scope, target in self._pauses:
            if scope == "all":
                return True
            if scope == "channel" and target == row.channel:
                return True
            if scope == "journey" and target == row.journey_slug:
                return True
        return False

    def _send(
        self, channel: Channel, claim: _Claim, delivery: Delivery, stats: DispatchStats
    ) -> None:
        self.buckets[claim.row.channel].take()
        try:
            result = channel.send(delivery)
        except PermanentSendError as exc:
            self._finish(claim, "dead", exc.reason, stats)
        except TransientSendError as exc:
            self._finish(claim, "retry", exc.reason, stats, error=exc)
        except Exception as exc:  # an adapter bug or unexpected error: retry, bounded
            log.exception("channel %s raised", claim.row.channel)
            self._finish(claim, "retry", f"{type(exc).__name__}: {exc}", stats, error=exc)
        else:
            self._finish(claim, "sent", None, stats, provider_id=result.provider_message_id)

    def _finish(
        self,
        claim: _Claim,
        outcome: Literal["sent", "retry", "dead"],
        reason: str | None,
        stats: DispatchStats,
        *,
        error: BaseException | None = None,
        provider_id: str | None = None,
    ) -> None:
        """Record the attempt in one compare-and-set UPDATE, if the claim is still ours."""
        if reason:
            kind = reason.split(":", 1)[0][:40]
            stats.errors[kind] = stats.errors.get(kind, 0) + 1
        # nobody else writes the row while the claim holds, so the snapshot's count is current
        attempts = claim.row.attempts + 1
        now = self.clock()
        values: dict[str, object]
        detail: dict[str, object]
        if outcome == "sent":
            provider_ref = (provider_id or "")[:200] or None
            values = {"status": "sent", "sent_at": now, "provider_message_id": provider_ref}
            values["last_error"] = None
            entry, detail = "outbox.sent", {"provider_id": provider_ref}
        elif outcome == "dead" or self.schedule.gives_up(attempts):
            if outcome == "retry":
                reason = f"gave up after {attempts} attempts; last error: {reason}"
            reason = reason or "unknown"
            values = {"status": "dead", "last_error": reason, "next_attempt_at": now}
            entry, detail = "outbox.dead", {"reason": reason}
        else:
            wait = self.schedule.wait_s(attempts, error)
            values = {
                "status": "failed",
                "last_error": reason,
                "next_attempt_at": now + timedelta(seconds=wait),
            }
            retry_after = getattr(error, "retry_after", None)
            entry = "outbox.retry_scheduled"
            detail = {"reason": reason, "wait_s": round(wait, 3), "retry_after": retry_after}
        with session_scope(self.engine) as session:
            if not update_if_claimed(
                session, claim.row.id, claim.lease, attempts=attempts, **values
            ):
                row = session.get(OutboxMessage, claim.row.id)
                if row is not None:
                    self._claim_lost(session, row, outcome, reason, provider_id)
                stats.lost += 1
                return
            self._audit(session, claim.row, entry, detail, attempts=attempts)
        if entry == "outbox.sent":
            stats.sent += 1
        elif entry == "outbox.dead":
            stats.dead += 1
        else:
            stats.retried += 1

    def _claim_lost(
        self,
        session: Session,
        row: OutboxMessage,
        outcome: str,
        reason: str | None,
        provider_id: str | None,
    ) -> None:
        """The provider call outlasted the lease and another dispatcher owns the row now: its
        state stands. Recorded, because a provider that ignores the key may have got it twice."""
        log.warning(
            "outbox %s: lease ran out during the provider call (%s); left to its new owner",
            row.id,
            outcome,
        )
        self._audit(
            session,
            row,
            "outbox.claim_lost",
            {"outcome": outcome, "reason": reason, "provider_id": provider_id},
        )

    def _mark_held(
        self,
        session: Session,
        row: OutboxMessage,
        until: datetime,
        reason: str,
        detail: dict[str, object] | None = None,
    ) -> None:
        row.status = "held"
        row.last_error = reason
        row.next_attempt_at = until
        session.add(row)
        self._audit(session, row, "outbox.held", {"reason": reason, **(detail or {})})

    def _mark_dead(
        self,
        session: Session,
        row: OutboxMessage,
        now: datetime,
        reason: str,
        detail: dict[str, object] | None = None,
    ) -> None:
        row.status = "dead"
        row.last_error = reason
        row.next_attempt_at = now
        session.add(row)
        self._audit(session, row, "outbox.dead", {"reason": reason, **(detail or {})})

    def _audit(
        self,
        session: Session,
        row: OutboxMessage,
        kind: str,
        payload: dict[str, object],
        *,
        attempts: int | None = None,
    ) -> None:
        audit.append(
            session,
            actor=ACTOR,
            kind=kind,
            subject_type="outbox",
            subject_id=row.id,
            customer_id=row.customer_id,
            journey_id=row.journey_slug,
            payload={
                "channel": row.channel,
                "key": row.idempotency_key,
                "attempts": row.attempts if attempts is None else attempts,
                **payload,
            },
        )

    # -- BackgroundService --------------------------------------------------------------------

    def run_until_idle(self, limit: int = 100, max_passes: int = 10_000) -> DispatchStats:
        """Run passes until one claims nothing (tests, one-shot jobs)."""
        total = DispatchStats()
        for _ in range(max_passes):
            stats = self.run_once(limit)
            total.add(stats)
            if stats.claimed == 0:
                break
        return total

    async def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                stats = await asyncio.to_thread(self.run_once)
            except Exception:  # keep polling: a DB hiccup must not stop delivery for good
                log.exception("dispatcher pass failed")
                stats = DispatchStats()
            if stats.claimed == 0:
                await asyncio.to_thread(self._stop.wait, self.policy.poll_interval_s)
