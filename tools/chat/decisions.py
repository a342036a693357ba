"""Chat tool: explain a stored decision ("why did customer 1042 get the 15% offer?").

Decisions keep their full explanation (candidates, eligibility filters, scores, policy and model
versions) in `core.tables.Decision.explanation`; this tool finds the decision meant and renders
that explanation in words, without inventing anything the record does not say.
"""

from __future__ import annotations

import re
from typing import Any

from sqlmodel import col, select

from core.audit import canonical_json
from core.tables import Decision
from tools.chat.env import ToolEnv, ToolError, ToolResult
from tools.chat.lookups import resolve_customer

__all__ = ["explain_decision", "render_explanation"]


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9%]+", text.lower()) if len(w) > 1 or w.isdigit()}


def _matches(decision: Decision, offer: str) -> int:
    """How many words of the asked-about offer appear in the decision record."""
    record = " ".join(
        [
            decision.action_id or "",
            decision.channel or "",
            canonical_json(decision.explanation.get("chosen", {})),
            canonical_json(decision.explanation.get("offer", {})),
        ]
    ).lower()
    record = record.replace("_", " ")
    asked = _words(offer) - {"the", "offer", "off", "discount"}
    return sum(1 for w in asked if w in record or w.rstrip("%") in record)


def _fmt_candidate(c: dict[str, Any]) -> str:
    name = c.get("action_id") or c.get("id") or c.get("action") or "?"
    bits = []
    if c.get("score") is not None:
        bits.append(
            f"score {c['score']:.3f}" if isinstance(c["score"], float) else f"score {c['score']}"
        )
    failed = c.get("failed") or c.get("failed_filters") or c.get("reasons") or []
    if c.get("eligible") is False or failed:
        bits.append("ineligible: " + ", ".join(str(f) for f in failed) if failed else "ineligible")
    return f"{name} ({'; '.join(bits)})" if bits else str(name)


def render_explanation(d: Decision) -> str:
    """Words for a decision record, built only from what the record holds."""
    e = d.explanation or {}
    head = f"Decision {d.id[:8]} for customer {d.customer_id}"
    if d.action_id:
        head += f" chose {d.action_id}" + (f" on {d.channel}" if d.channel else "")
    else:
        head += " chose no action"
    lines = [
        head + f" (policy arm {d.policy_arm}" + (", holdout group" if d.holdout else "") + ")."
    ]
    if d.holdout:
        lines.append(
            "The customer was in the holdout group, so nothing was sent (measures uplift)."
        )
    for key in ("summary", "reason", "why"):
        if isinstance(e.get(key), str):
            lines.append(e[key])
            break
    offer = e.get("offer") or (e.get("chosen") or {}).get("offer")
    if offer:
        lines.append(f"Offer: {canonical_json(offer)}.")
    candidates = e.get("candidates")
    if isinstance(candidates, list) and candidates:
        shown = [_fmt_candidate(c) for c in candidates[:6] if isinstance(c, dict)]
        lines.append("Candidates: " + "; ".join(shown) + ".")
    versions = {k: v for k, v in (("catalog", d.catalog_version), ("model", d.model_version)) if v}
    if versions:
        lines.append("Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".")
    return "\n".join(lines)


def explain_decision(
    env: ToolEnv, customer_id: str, offer: str | None = None, decision_id: str | None = None
) -> ToolResult:
    """Explain why a customer got (or did not get) an action or offer: the candidates
    considered, which eligibility rules passed or failed, the scores and the policy.
    `offer` narrows to the decision about that offer (e.g. "15%"); default is the latest."""
    canonical = resolve_customer(env.session, customer_id)
    query = select(Decision).where(Decision.customer_id == canonical)
    if decision_id:
        query = query.where(col(Decision.id).startswith(decision_id.strip(), autoescape=True))
    decisions = list(env.session.exec(query.order_by(col(Decision.created_at).desc()).limit(50)))
    if not decisions:
        raise ToolError(f"no decision is recorded for customer {canonical}")
    chosen = decisions[0]
    if offer:
        best = max(decisions, key=lambda d: _matches(d, offer))  # newest wins ties
        if _matches(best, offer) == 0:
            raise ToolError(
                f"no decision for customer {canonical} mentions {offer!r}; latest chose "
                f"{chosen.action_id or 'no action'}"
            )
        chosen = best
    return ToolResult(
        summary=render_explanation(chosen),
        data={
            "decision_id": chosen.id,
            "customer_id": canonical,
            "action_id": chosen.action_id,
            "channel": chosen.channel,
            "holdout": chosen.holdout,
            "explanation": chosen.explanation,
        },
    )
