"""The outbox dispatcher: claims due messages, checks pauses and send-time rules, sends, retries.

Delivery state lives in the outbox row, so a crash loses nothing:
- a claim marks rows `sending` with a lease (`next_attempt_at = now + lease_s`); rows whose lease
  ran out (the process died mid-send) are claimed again and re-sent with the *same* key, which
  providers that dedupe on it (capture server, sandboxes, Twilio-style APIs) turn into a no-op;
- PostgreSQL claims with `FOR UPDATE SKIP LOCKED`, so several dispatchers share one outbox;
  SQLite has a single writer (`BEGIN IMMEDIATE`), which serialises claims;
- transient failures are retried with exponential backoff and jitter, never sooner than the
  provider's Retry-After; permanent failures and the last attempt go to `dead` with the reason;
- a paused channel/journey/everything turns due rows into `held`; they are due again as soon as
  the pause is lifted (the next poll, `poll_interval_s`).
"""

from __future__ import annotations

import asyncio
import logging
import random
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
from core.clock import utcnow
from core.controls import active_pauses, is_paused
from core.db import is_postgres, session_scope
from core.tables import OutboxMessage
from tools.channels.base import Channel, Delivery, PermanentSendError, TransientSendError
from tools.channels.registry import ChannelRegistry

__all__ = ["DispatchStats", "Dispatcher", "PreSend", "RetryPolicy", "TokenBucket", "backoff_s"]

log = logging.getLogger("cjo.dispatcher")
ACTOR = "system:dispatcher"
_CLAIMABLE = ("pending", "failed", "held", "sending")


class PreSend(Protocol):
    """A send-time check (guardrails): `send`, `hold` (re-check later) or `block` (dead)."""

    def __call__(
        self, session: Session, message: OutboxMessage
    ) -> Literal["send", "hold", "block"]: ...


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How long to wait between attempts and when to give up."""

    max_attempts: int = 8
    base_s: float = 2.0
    cap_s: float = 600.0
    lease_s: float = 120.0
    hold_recheck_s: float = 60.0
    poll_interval_s: float = 0.5
    pause_check_s: float = 0.2


def backoff_s(
    attempt: int, policy: RetryPolicy, retry_after: float | None, rng: random.Random
) -> float:
    """Wait before attempt `attempt + 1`: exponential with equal jitter, at least Retry-After.

    `base * 2**(attempt-1)` capped at `cap_s`, then a uniform draw from its upper half, so
    retries of many messages failing together spread out instead of arriving in waves.
    """
    ceiling = min(policy.cap_s, policy.base_s * (2 ** max(0, attempt - 1)))
    delay = ceiling / 2 + rng.uniform(0, ceiling / 2)
    return max(delay, retry_after or 0.0)


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
    """What one `run_once` did."""

    claimed: int = 0
    sent: int = 0
    retried: int = 0
    held: int = 0
    dead: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def add(self, other: DispatchStats) -> None:
        self.claimed += other.claimed
        self.sent += other.sent
        self.retried += other.retried
        self.held += other.held
        self.dead += other.dead
        for reason, count in other.errors.items():
            self.errors[reason] = self.errors.get(reason, 0) + count


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
        rng: random.Random | None = None,
    ) -> None:
        self.engine = engine
        self.channels = channels
        self.pre_send = pre_send
        self.clock = clock
        self.policy = policy or RetryPolicy()
        self.rng = rng or random.Random()
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
        for row in self._claim(limit, stats):
            self._deliver(row, stats)
        return stats

    def _claim(self, limit: int, stats: DispatchStats) -> list[OutboxMessage]:
        now = self.clock()
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
            claimed: list[OutboxMessage] = []
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
                    row.status = "sending"
                    row.next_attempt_at = now + timedelta(seconds=self.policy.lease_s)
                    session.add(row)
                    claimed.append(row)
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
            self._mark_held(session, row, now, "paused by a kill switch", delay_s=0.0)
        return len(rows)

    def _dead_letter_unknown(self, session: Session, now: datetime, stats: DispatchStats) -> None:
        query = select(OutboxMessage).where(
            col(OutboxMessage.status).in_(_CLAIMABLE),
            col(OutboxMessage.channel).not_in(self.channels.channels),
            col(OutboxMessage.next_attempt_at) <= now,
        )
        for row in session.exec(query.limit(100)).all():
            self._mark_dead(session, row, now, f"channel: no adapter for {row.channel!r}")
            stats.dead += 1

    # -- one message ------------------------------------------------------------------------

    def _deliver(self, claimed: OutboxMessage, stats: DispatchStats) -> None:
        channel = self.channels.get(claimed.channel)
        assert channel is not None  # claimed per registered channel
        # No send-time check to run: a cached view of the kill switch (at most
        # `pause_check_s` old) saves a transaction per message.
        if self.pre_send is None and not self._recently_paused(claimed):
            self._send(channel, claimed, _delivery(claimed), stats)
            return
        with session_scope(self.engine) as session:
            row = session.get(OutboxMessage, claimed.id)
            if row is None or row.status != "sending":
                return
            now = self.clock()
            if is_paused(session, channel=row.channel, journey_slug=row.journey_slug):
                self._mark_held(session, row, now, "paused by a kill switch", delay_s=0.0)
                stats.held += 1
                return
            if self.pre_send is not None:
                verdict = self.pre_send(session, row)
                if verdict == "hold":
                    delay = self.policy.hold_recheck_s
                    self._mark_held(session, row, now, "held by a send-time check", delay)
                    stats.held += 1
                    return
                if verdict == "block":
                    self._mark_dead(session, row, now, "blocked by a send-time check")
                    stats.dead += 1
                    return
            delivery = _delivery(row)
        self._send(channel, claimed, delivery, stats)

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
        self, channel: Channel, claimed: OutboxMessage, delivery: Delivery, stats: DispatchStats
    ) -> None:
        self.buckets[claimed.channel].take()
        try:
            result = channel.send(delivery)
        except PermanentSendError as exc:
            self._finish(claimed.id, "dead", exc.reason, stats)
        except TransientSendError as exc:
            self._finish(claimed.id, "retry", exc.reason, stats, retry_after=exc.retry_after)
        except Exception as exc:  # an adapter bug or unexpected error: retry, bounded
            log.exception("channel %s raised", claimed.channel)
            self._finish(claimed.id, "retry", f"{type(exc).__name__}: {exc}", stats)
        else:
            self._finish(claimed.id, "sent", None, stats, provider_id=result.provider_message_id)

    def _finish(
        self,
        message_id: str,
        outcome: Literal["sent", "retry", "dead"],
        reason: str | None,
        stats: DispatchStats,
        *,
        retry_after: float | None = None,
        provider_id: str | None = None,
    ) -> None:
        with session_scope(self.engine) as session:
            row = session.get(OutboxMessage, message_id)
            if row is None:
                return
            now = self.clock()
            row.attempts += 1
            if reason:
                kind = reason.split(":", 1)[0][:40]
                stats.errors[kind] = stats.errors.get(kind, 0) + 1
            if outcome == "sent":
                row.status = "sent"
                row.sent_at = now
                row.provider_message_id = (provider_id or "")[:200] or None
                row.last_error = None
                session.add(row)
                self._audit(session, row, "outbox.sent", {"provider_id": row.provider_message_id})
                stats.sent += 1
            elif outcome == "dead" or row.attempts >= self.policy.max_attempts:
                if outcome == "retry":
                    reason = f"gave up after {row.attempts} attempts; last error: {reason}"
                self._mark_dead(session, row, now, reason or "unknown")
                stats.dead += 1
            else:
                wait = backoff_s(row.attempts, self.policy, retry_after, self.rng)
                row.status = "failed"
                row.last_error = reason
                row.next_attempt_at = now + timedelta(seconds=wait)
                session.add(row)
                self._audit(
                    session,
                    row,
                    "outbox.retry_scheduled",
                    {"reason": reason, "wait_s": round(wait, 3), "retry_after": retry_after},
                )
                stats.retried += 1

    def _mark_held(
        self, session: Session, row: OutboxMessage, now: datetime, reason: str, delay_s: float
    ) -> None:
        row.status = "held"
        row.last_error = reason
        row.next_attempt_at = now + timedelta(seconds=delay_s)
        session.add(row)
        self._audit(session, row, "outbox.held", {"reason": reason})

    def _mark_dead(self, session: Session, row: OutboxMessage, now: datetime, reason: str) -> None:
        row.status = "dead"
        row.last_error = reason
        row.next_attempt_at = now
        session.add(row)
        self._audit(session, row, "outbox.dead", {"reason": reason})

    def _audit(
        self, session: Session, row: OutboxMessage, kind: str, payload: dict[str, object]
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
                "attempts": row.attempts,
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
