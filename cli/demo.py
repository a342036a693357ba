"""The demo `cjo run` plays: real CDNOW purchase history, then a live stream of signals.

History: the first rows of CDNOW (real purchases, 1997-98) with synthetic contact data, shifted
so the dataset ends today; replaying it twice changes nothing (stable message ids).
Live signals (synthetic, labelled `"demo": true`): lapsed customers coming back to the site
(their churn risk is re-scored and crosses 0.7: win-back), carts left an hour ago (cart
abandonment), first purchases (onboarding), trial starts (trial to paid). Then a responder
plays customers answering: a share of the emailed customers order, which the closed loop
attributes to the email and feeds to the bandit. Every synthetic event says so in its
properties, so nobody mistakes them for data.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from agents.journey.store import save_journeys_in
from agents.tables import Attribution
from cdp.datasets import cdnow_messages
from cdp.importer import import_messages
from cli.services import EXAMPLES
from core.clock import utcnow
from core.db import session_scope
from core.tables import (
    Decision,
    Event,
    Identity,
    JourneyRun,
    OutboxMessage,
    Review,
    TriggerFiring,
)
from tools.tables import CapturedEmail

__all__ = ["DemoReplay", "DemoReporter", "history_messages", "live_signals", "seed_demo"]

log = logging.getLogger("cjo.demo")
CDNOW_END = date(1998, 7, 1)
HISTORY_ROWS = 3000  # CDNOW purchase lines: about 1,000 customers
RESPONSE_SHARE = 0.3  # share of emailed customers the responder makes order


def history_messages(today: date, rows: int = HISTORY_ROWS) -> Iterator[dict[str, Any]]:
    """CDNOW purchases with synthetic contacts, moved in time so the dataset ends `today`."""
    offset = today - CDNOW_END
    for message in cdnow_messages(limit=rows, synthetic_contacts=True):
        moved = dict(message)
        day = date.fromisoformat(message["timestamp"][:10]) + offset
        moved["timestamp"] = datetime.combine(day, time(12, 0)).isoformat() + "Z"
        moved["messageId"] = "demo-" + message["messageId"]
        yield moved


def _customers_in_history(rows: int) -> list[str]:
    seen: dict[str, None] = {}
    for message in cdnow_messages(limit=rows):
        seen.setdefault(message["userId"], None)
    return list(seen)


def _signal(kind: str, user_id: str, at: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "messageId": f"demo-live-{kind}-{user_id}-{fields.get('event', fields.get('name', ''))}",
        "userId": user_id,
        "timestamp": at.isoformat(),
        **fields,
    }


def live_signals(now: datetime, rows: int = HISTORY_ROWS) -> list[dict[str, Any]]:
    """Today's synthetic signals, oldest first (stable ids: a second `make run` adds none)."""
    customers = _customers_in_history(rows)
    demo = {"demo": True}
    out: list[dict[str, Any]] = []
    for user_id in customers[5::25]:  # lapsed customers browse again
        out.append(
            _signal(
                "page",
                user_id,
                now - timedelta(minutes=2),
                name="Home",
                properties={"path": "/", **demo},
            )
        )
    for i, user_id in enumerate(customers[12::60]):  # carts left about an hour ago
        out.append(
            _signal(
                "track",
                user_id,
                now - timedelta(minutes=75),
                event="Product Added",
                properties={
                    "product_id": f"sku-{i}",
                    "price": 39.0 + 10 * i,
                    "quantity": 1,
                    **demo,
                },
            )
        )
    for n in range(1, 6):  # brand-new customers buy for the first time
        user_id = f"demo-new-{n}"
        out.append(
            {
                "type": "identify",
                "messageId": f"demo-live-identify-{user_id}",
                "userId": user_id,
                "timestamp": (now - timedelta(minutes=3)).isoformat(),
                "traits": {
                    "email": f"new{n}@example.com",
                    "first_name": f"New{n}",
                    "timezone": "Europe/London",
                    "email_opt_in": True,
                    **demo,
                },
                "context": {"timezone": "Europe/London"},
            }
        )
        out.append(
            _signal(
                "track",
                user_id,
                now - timedelta(minutes=1),
                event="Order Completed",
                properties={"order_id": f"demo-first-{n}", "revenue": 42.0, **demo},
            )
        )
    for user_id in customers[20::200]:  # trials start
        out.append(
            _signal(
                "track",
                user_id,
                now - timedelta(minutes=1),
                event="Trial Started",
                properties={"plan": "plus", **demo},
            )
        )
    out.sort(key=lambda m: m["timestamp"])
    return out


def seed_demo(engine: Engine, now: datetime | None = None) -> dict[str, int]:
    """Journeys, history and today's signals, accepted durably (the cdp worker processes them)."""
    now = now or utcnow()
    with session_scope(engine) as session:
        save_journeys_in(session, EXAMPLES / "journeys", actor="system:demo")
    history = import_messages(engine, enumerate(history_messages(now.date()), 1))
    live = import_messages(engine, enumerate(live_signals(now), 1))
    return {"history_accepted": history.accepted, "live_accepted": live.accepted}


def _responds(customer_id: str) -> bool:
    digest = hashlib.sha256(f"demo-response:{customer_id}".encode()).digest()
    return digest[0] / 255 < RESPONSE_SHARE


def respond_to_emails(
    engine: Engine, now: datetime | None = None, *, since: datetime | None = None
) -> int:
    """Play customers answering: some emailed customers order (simulated, labelled).

    `since`: only emails sent after it (the replay passes its last pass); the stable message
    ids make a repeated answer a duplicate the CDP ignores anyway.
    """
    now = now or utcnow()
    with Session(engine) as session:
        query = select(OutboxMessage).where(
            OutboxMessage.channel == "email",
            OutboxMessage.status == "sent",
            col(OutboxMessage.sent_at) <= now - timedelta(seconds=15),
        )
        if since is not None:
            query = query.where(col(OutboxMessage.sent_at) > since - timedelta(seconds=15))
        sent = session.exec(query).all()
        answering = {
            m.id: m.customer_id for m in sent if m.customer_id and _responds(m.customer_id)
        }
        # the customer orders under the id the shop knows them by
        known = dict(
            session.exec(
                select(Identity.customer_id, Identity.value).where(
                    Identity.kind == "user_id",
                    col(Identity.customer_id).in_(set(answering.values())),
                )
            ).all()
        )
        user_ids = {mid: known[cid] for mid, cid in answering.items() if cid in known}
    orders = [
        {
            "type": "track",
            "messageId": f"demo-response-{message_id}",
            "userId": customer_id,
            "event": "Order Completed",
            "timestamp": now.isoformat(),
            "properties": {
                "order_id": f"demo-response-{message_id}",
                "revenue": 55.0,
                "demo": True,
                "simulated_response": True,
            },
        }
        for message_id, customer_id in user_ids.items()
    ]
    return import_messages(engine, enumerate(orders, 1)).accepted if orders else 0


class DemoReplay:
    """Background service: seeds the demo once, then plays customer responses."""

    name = "demo-replay"

    def __init__(self, engine: Engine, every_s: float = 5.0) -> None:
        self.engine = engine
        self.every_s = every_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        try:
            seeded = await asyncio.to_thread(seed_demo, self.engine)
        except Exception:
            log.exception("demo seeding failed; the orchestrator keeps running without it")
            return
        log.info("demo seeded", extra={"fields": seeded})
        since: datetime | None = None
        while True:
            await asyncio.sleep(self.every_s)
            started = utcnow()
            try:
                await asyncio.to_thread(respond_to_emails, self.engine, since=since)
                since = started
            except Exception:
                log.exception("demo responder failed; retrying")


def summary(engine: Engine) -> dict[str, Any]:
    """What the orchestrator has done so far, in counts."""

    def count(session: Session, model: Any, *where: Any) -> int:
        return int(session.exec(select(func.count()).select_from(model).where(*where)).one())

    with Session(engine) as s:
        by_status = dict(
            s.exec(select(JourneyRun.status, func.count()).group_by(JourneyRun.status)).all()
        )
        outbox = s.exec(
            select(OutboxMessage.channel, OutboxMessage.status, func.count()).group_by(
                OutboxMessage.channel, OutboxMessage.status
            )
        ).all()
        return {
            "events": count(s, Event),
            "events_processed": count(s, Event, col(Event.processed_at).is_not(None)),
            "triggers_fired": count(s, TriggerFiring),
            "journey_runs": by_status,
            "decisions": count(s, Decision),
            "outbox": {f"{ch}/{st}": n for ch, st, n in outbox},
            "emails_in_capture_server": count(s, CapturedEmail),
            "reviews_pending": count(s, Review, Review.status == "pending"),
            "conversions_attributed": count(s, Attribution, col(Attribution.reward) > 0),
        }


class DemoReporter:
    """Background service: prints a live summary table of what happened every few seconds."""

    name = "demo-reporter"

    def __init__(self, engine: Engine, console: Console, every_s: float = 10.0) -> None:
        self.engine = engine
        self.console = console
        self.every_s = every_s
        self._task: asyncio.Task[None] | None = None
        self._last: dict[str, Any] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            try:
                figures = await asyncio.to_thread(summary, self.engine)
            except Exception:
                log.exception("demo summary failed")
                continue
            if figures != self._last:
                self._last = figures
                self.console.print(render(figures))


def render(figures: dict[str, Any]) -> Table:
    table = Table(title=f"cjo at {utcnow():%H:%M:%S} UTC", show_header=False, expand=False)
    for key, value in figures.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}: {v}" for k, v in sorted(value.items())) or "none"
        table.add_row(key.replace("_", " "), str(value))
    return table
