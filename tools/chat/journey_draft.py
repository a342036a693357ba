"""Turn a goal in plain words into a journey definition, using only catalog actions.

The plan is built by rules, not by the language model: a 135M local model cannot write a
valid journey, and even a large one must not invent actions, channels or discounts. The
result is a dict in the journey schema (agents/journey/spec.py) that the caller validates.
"""

from __future__ import annotations

import re
from typing import Any

from tools.chat.catalog import ActionRef
from tools.chat.env import ToolError

__all__ = ["TRIGGER_WORDS", "picture", "plan_journey"]

# What starts a journey, from the words a marketer uses; first match wins.
TRIGGER_WORDS: tuple[tuple[str, str, str], ...] = (
    ("cart_abandoned", r"\b(cart|basket|checkout|abandon\w*)\b", "Cart recovery"),
    ("churn_risk_high", r"\b(churn\w*|at[- ]risk|risk of leaving)\b", "Churn save"),
    ("trial_started", r"\btrials?\b", "Trial to paid"),
    (
        "first_purchase",
        r"\b(first (purchase|order)|welcome|onboard\w*|new (customer|member|buyer)s?)\b",
        "Welcome",
    ),
    (
        "no_purchase_90d",
        r"\b(win[- ]?back|lapsed|inactive|dormant|come back|re-?engage\w*)\b",
        "Win-back",
    ),
)
_CHANNEL_WORDS = {
    "sms": r"\b(sms|texts?|text messages?)\b",
    "push": r"\bpush\b",
    "csm": r"\b(csm|calls?|phone call|account manager)\b",
    "audience": r"\b(ads?|audiences?|retarget\w*)\b",
    "email": r"\b(e-?mails?)\b",
}
_VIP = r"\b(vips?|top[- ]tier|high[- ]value|best customers|gold|platinum)\b"
TOP_TIERS = ["vip", "platinum", "gold", "top"]
TOP_ONLY = ["platinum", "top"]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "journey"


def _pick(catalog: list[ActionRef], trigger: str, channel: str) -> list[str]:
    fits = [
        a for a in catalog if a.channel == channel and (trigger in a.triggers or not a.triggers)
    ]
    applicable = [a for a in fits if trigger in a.triggers]
    return [a.id for a in (applicable or fits)]


def plan_journey(goal: str, catalog: list[ActionRef]) -> dict[str, Any]:
    """A journey dict for `goal`: trigger, audience check, action steps with waits, a CSM
    branch for top-tier customers when asked, a conversion goal, a 10% holdout."""
    text = goal.lower()
    found = next(((t, label) for t, rx, label in TRIGGER_WORDS if re.search(rx, text)), None)
    if found is None:
        names = ", ".join(t for t, _, _ in TRIGGER_WORDS)
        raise ToolError(
            f"say what starts the journey (one of: {names}), e.g. 'win-back for lapsed'"
        )
    trigger, label = found
    vip = re.search(_VIP, text) is not None
    top_only = re.search(r"\btop[- ]tier|\bhighest tier|\bplatinum\b", text) is not None
    asked = [ch for ch, rx in _CHANNEL_WORDS.items() if re.search(rx, text)]
    wants_csm = "csm" in asked
    outbound = [ch for ch in asked if ch != "csm"] or ["email"]
    if "email" in outbound:  # email first: cheapest, richest content
        outbound = ["email", *[c for c in outbound if c != "email"]]

    steps: list[dict[str, Any]] = []
    if vip:
        steps.append(
            {
                "id": "audience",
                "kind": "branch",
                "default": "end",
                "rules": [
                    {
                        "when": {"field": "profile.computed.tier", "op": "in", "value": TOP_TIERS},
                        "goto": "first-touch",
                    }
                ],
            }
        )
    for i, channel in enumerate(outbound):
        chosen = _pick(catalog, trigger, channel)
        if not chosen:
            raise ToolError(f"the catalog has no {channel} action for trigger {trigger}")
        if i:
            steps.append({"id": f"wait-{i}", "kind": "wait", "duration": "3d"})
        steps.append(
            {
                "id": "first-touch" if i == 0 else f"touch-{i + 1}",
                "kind": "action",
                "actions": chosen,
                "channels": [channel],
            }
        )
    if wants_csm:
        csm = _pick(catalog, trigger, "csm")
        if not csm:
            raise ToolError(f"the catalog has no CSM action for trigger {trigger}")
        steps.append({"id": "wait-csm", "kind": "wait", "duration": "3d"})
        if top_only:
            steps.append(
                {
                    "id": "top-tier",
                    "kind": "branch",
                    "default": "end",
                    "rules": [
                        {
                            "when": {
                                "field": "profile.computed.tier",
                                "op": "in",
                                "value": TOP_ONLY,
                            },
                            "goto": "csm-call",
                        }
                    ],
                }
            )
        steps.append({"id": "csm-call", "kind": "action", "actions": csm, "channels": ["csm"]})
    audience = "VIPs" if vip else "customers"
    name = f"{label} for {'lapsed ' if trigger == 'no_purchase_90d' else ''}{audience}"
    return {
        "slug": _slug(f"{label} {'vip' if vip else ''}"),
        "name": name,
        "description": f"Drafted by the chat assistant from: {goal.strip()}",
        "trigger": trigger,
        "goal": {"event": "Order Completed", "window": "14d"},
        "holdout_pct": 10.0,
        "review": {"always": wants_csm, "min_conformance": 0.7, "expires_after": "2d"},
        "steps": steps,
    }


def picture(spec: dict[str, Any]) -> str:
    """A one-line picture of the flow: trigger -> steps -> end."""
    parts = [f"[{spec['trigger']}]"]
    for step in spec["steps"]:
        if step["kind"] == "action":
            parts.append(f"{'/'.join(step['channels'])}: {' | '.join(step['actions'])}")
        elif step["kind"] == "wait":
            parts.append(f"wait {step['duration']}")
        elif step["kind"] == "branch":
            rule = step["rules"][0]
            parts.append(
                f"if {rule['when']['field'].split('.')[-1]} in {rule['when']['value']} -> "
                f"{rule['goto']} else {step['default']}"
            )
    return " -> ".join([*parts, "end"])
