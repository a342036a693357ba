"""Stand-ins for `guardrails.review` / `guardrails.engine`, used only while they are missing.

The console imports those modules lazily. In a build where guardrails/ has not landed yet, the
console tests install these small stand-ins (same signatures, same exception names) so the pages
can be driven end to end; once the real modules exist, `install()` does nothing.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
import types
from typing import Any

from sqlmodel import Session

from core import audit
from core.clock import utcnow
from core.domain import GuardrailReport, Verdict
from core.tables import OutboxMessage, Review

BANNED = ("guaranteed", "100% free", "risk-free")


def content_hash(content: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def check_text(
    session: Session, *, text: str, source: str, channel: str | None = None,
    customer_id: str | None = None, action: dict[str, Any] | None = None,
) -> GuardrailReport:  # fmt: skip
    found = [b for b in BANNED if b in text.lower()]
    verdict = Verdict.block("claims", *[f"banned_claim:{b}" for b in found]) if found else (
        Verdict.allow("claims"))  # fmt: skip
    return GuardrailReport.of([verdict])


def install() -> bool:
    """Put stand-ins in sys.modules when the real modules are absent; True if installed."""
    if "guardrails.review" in sys.modules:
        return False
    if importlib.util.find_spec("guardrails.review") is not None:
        return False
    review_mod = types.ModuleType("guardrails.review")
    engine_mod = types.ModuleType("guardrails.engine")

    class ReviewConflict(Exception):
        pass

    class StaleApproval(Exception):
        pass

    class SelfApproval(Exception):
        pass

    class GuardrailRefused(Exception):
        def __init__(self, report: GuardrailReport) -> None:
            super().__init__("the edited content breaks a guardrail")
            self.report = report

    for cls in (ReviewConflict, StaleApproval, SelfApproval, GuardrailRefused):
        cls.__module__ = "guardrails.review"

    def _pending(session: Session, review_id: str) -> Review:
        row = session.get(Review, review_id)
        if row is None or row.status != "pending":
            raise ReviewConflict("review is not pending")
        return row

    def approve(session: Session, review_id: str, *, actor: str, content_hash: str) -> Review:
        row = _pending(session, review_id)
        if content_hash != row.content_hash:
            raise StaleApproval("the content changed since you looked")
        row.status, row.resolved_by, row.resolved_at = "approved", actor, utcnow()
        session.add(row)
        session.add(
            OutboxMessage(
                idempotency_key=f"review:{row.id}:{row.content_hash}",
                channel=row.channel,
                customer_id=row.customer_id,
                journey_slug=row.journey_slug,
                decision_id=row.decision_id,
                action_id=row.action_id,
                payload={"content": row.content},
            )
        )
        audit.append(session, actor=actor, kind="review.approved", subject_type="review",
                     subject_id=row.id, customer_id=row.customer_id)  # fmt: skip
        return row

    def reject(session: Session, review_id: str, *, actor: str, reason: str) -> Review:
        row = _pending(session, review_id)
        row.status, row.resolved_by, row.resolved_at = "rejected", actor, utcnow()
        row.resolution_note = reason
        session.add(row)
        audit.append(session, actor=actor, kind="review.rejected", subject_type="review",
                     subject_id=row.id, payload={"reason": reason})  # fmt: skip
        return row

    def edit(
        session: Session, review_id: str, *, actor: str, content: dict[str, Any]
    ) -> tuple[Review, GuardrailReport]:
        row = _pending(session, review_id)
        report = check_text(session, text=json.dumps(content), source="generated")
        if report.outcome.value == "block":
            raise GuardrailRefused(report)
        row.content, row.content_hash, row.edited_by = content, content_hash(content), actor
        session.add(row)
        return row, report

    names = dict(approve=approve, reject=reject, edit=edit, content_hash=content_hash,
                 ReviewConflict=ReviewConflict, StaleApproval=StaleApproval,
                 SelfApproval=SelfApproval, GuardrailRefused=GuardrailRefused)  # fmt: skip
    for name, value in names.items():
        setattr(review_mod, name, value)
    engine_mod.check_text = check_text  # type: ignore[attr-defined]
    sys.modules["guardrails.review"] = review_mod
    sys.modules["guardrails.engine"] = engine_mod
    return True
