"""Child process of the journey crash test: drive every journey run to its end, then exit 0.

Run as `python -m tests.integration.journey_crash_child DATABASE_URL DATA_DIR`. The parent
SIGKILLs it at random moments and starts it again; each start recovers what the last left.
The child also runs the real outbox dispatcher against the in-process SMTP capture server
(email), the SMS sandbox provider and the CSM task table, and exits 0 only once every outbox
message has been delivered, so a kill can also land between a provider accepting a message
and the outbox row being marked sent.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from agents.journey.runner import JourneyRunner, RunnerOptions
from core.clock import utcnow
from core.db import make_engine, session_scope
from core.domain import ProfileView
from core.settings import Settings
from core.tables import JourneyRun, OutboxMessage, TriggerFiring
from tests.graph.factories import Clock, Fakes, enqueue, make_context
from tools.channels import ChannelConfig, build_registry
from tools.dispatcher import Dispatcher, RetryPolicy

DEADLINE_S = 300.0
# a killed child leaves its claims `sending`: the next one re-sends them after this lease
LEASE_S = 2.0
PROVIDER_TIMEOUT_S = 1.0


def phone_of(customer_id: str) -> str:
    """A valid E.164 number per customer (c17 -> +14155550017)."""
    return f"+1415555{int(customer_id.lstrip('c')):04d}"


class DeliverableFakes(Fakes):
    """Fakes whose customers have a phone number the SMS adapter accepts."""

    def load_profile(self, session: Session, customer_id: str) -> ProfileView | None:
        profile = super().load_profile(session, customer_id)
        if profile is None:
            return None
        traits = {**profile.traits, "phone": phone_of(customer_id)}
        return profile.model_copy(update={"traits": traits})


def deliverable_enqueue(
    session: Session, *, channel: str, payload: dict[str, Any], **row: Any
) -> tuple[OutboxMessage, bool]:
    """The fakes' outbox write with the payload each real adapter expects (plus the step)."""
    content, recipient = payload["content"], payload["recipient"]
    text = str(content.get("body_text", ""))
    subject = str(content.get("subject", ""))
    shaped: dict[str, Any] = {
        "email": {"to": recipient, "subject": subject, "text": text, "html": f"<p>{text}</p>"},
        "sms": {"to": recipient, "text": text},
        "csm": {"script": text, "summary": subject},
    }[channel]
    return enqueue(session, channel=channel, payload={**shaped, "step": payload["step"]}, **row)


def unfinished(engine: Engine) -> int:
    with session_scope(engine) as session:
        open_runs = session.exec(
            select(func.count()).select_from(JourneyRun).where(JourneyRun.status != "completed")
        ).one()
        waiting_firings = session.exec(
            select(func.count())
            .select_from(TriggerFiring)
            .where(col(TriggerFiring.consumed_at).is_(None))
        ).one()
        undelivered = session.exec(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status != "sent")
        ).one()
    return int(open_runs) + int(waiting_firings) + int(undelivered)


def _dispatcher(engine: Engine, settings: Settings) -> Dispatcher:
    rates = {c: 100_000.0 for c in ("email", "sms", "csm")}
    config = ChannelConfig(smtp_capture_port=0, rates=rates, provider_timeout_s=PROVIDER_TIMEOUT_S)
    registry = build_registry(settings, engine, config)
    assert registry.capture is not None  # no CJO_SMTP_URL in tests: the embedded server
    registry.capture.start()
    policy = RetryPolicy(lease_s=LEASE_S, base_s=0.1, cap_s=0.5, max_attempts=20)
    return Dispatcher(engine, registry, policy=policy)


def main(url: str, data_dir: str) -> None:
    engine = make_engine(url)
    fakes = DeliverableFakes(
        profiles={f"c{i}": {"computed": {"monetary": 1000}} for i in range(0, 100, 3)}
    )
    clock = Clock()
    clock.at = utcnow()
    database_url = url if url.startswith("postgresql") else None
    settings = Settings(data_dir=Path(data_dir), environment="test", database_url=database_url)
    context = dataclasses.replace(make_context(engine, fakes, clock), enqueue=deliverable_enqueue)
    # stale_after=0: any run still marked running was left by the process we replaced
    runner = JourneyRunner(context, settings, RunnerOptions(stale_after=timedelta(0)))
    dispatcher = _dispatcher(engine, settings)
    print("ready", flush=True)
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        clock.at = utcnow()
        busy = runner.run_once().work_done + dispatcher.run_once(limit=20).claimed
        if unfinished(engine) == 0:
            sys.exit(0)
        if not busy:
            time.sleep(0.05)  # waiting for a lease a killed child left to run out
    sys.exit(3)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
