"""Customer-success / contact-center tasks: a row humans work from, mirrored to a CRM webhook.

Payload: {"script", "summary", "priority"?}. The task is unique on the outbox key, so a retry
after a crash finds the task instead of opening a second one; the CRM gets a Standard Webhooks
event `csm.task.created` whose `webhook-id` is the key (receivers dedupe on it).
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import select

from core.db import session_scope
from core.tables import new_id
from tools.channels.base import Delivery, PermanentSendError, SendResult, require_text
from tools.channels.webhook import WebhookSender, webhook_body
from tools.insert_once import insert_if_absent
from tools.tables import CsmTask

__all__ = ["PRIORITIES", "CsmChannel"]

PRIORITIES = ("low", "normal", "high", "urgent")


class CsmChannel:
    """Creates the task; with `crm_url` set, also posts it to the CRM as a signed webhook."""

    name = "csm"

    def __init__(
        self, engine: Engine, *, crm_url: str | None = None, sender: WebhookSender | None = None
    ) -> None:
        if crm_url and sender is None:
            raise ValueError("sender: needed when crm_url is set")
        self.engine = engine
        self.crm_url = crm_url
        self.sender = sender

    def send(self, delivery: Delivery) -> SendResult:
        script = require_text(delivery.payload, "script", "csm")
        summary = require_text(delivery.payload, "summary", "csm")
        priority = delivery.payload.get("priority") or "normal"
        if priority not in PRIORITIES:
            raise PermanentSendError(f"payload.priority: one of {', '.join(PRIORITIES)}")
        context = {
            "journey_slug": delivery.journey_slug,
            "run_id": delivery.run_id,
            "decision_id": delivery.decision_id,
            "action_id": delivery.action_id,
        }
        values = {
            "id": new_id(),
            "idempotency_key": delivery.key,
            "customer_id": delivery.customer_id,
            "journey_slug": delivery.journey_slug,
            "script": script,
            "summary": summary,
            "priority": priority,
            "context": context,
            "status": "open",
            "crm_status": "pending" if self.crm_url else None,
        }
        with session_scope(self.engine) as session:
            insert_if_absent(session, CsmTask, values, ["idempotency_key"])
            task = session.exec(
                select(CsmTask).where(CsmTask.idempotency_key == delivery.key)
            ).one()
        if self.crm_url and self.sender is not None and task.crm_status != "sent":
            data = {
                "task_id": task.id,
                "customer_id": task.customer_id,
                "script": task.script,
                "summary": task.summary,
                "priority": task.priority,
                "context": task.context,
            }
            body = webhook_body(delivery, "csm.task.created", data)
            self.sender.post_event(self.crm_url, delivery.key, body)
            with session_scope(self.engine) as session:
                session.execute(
                    update(CsmTask)
                    .where(CsmTask.id == task.id)  # type: ignore[arg-type]
                    .values(crm_status="sent")
                )
        return SendResult(task.id, {"crm": bool(self.crm_url)})
