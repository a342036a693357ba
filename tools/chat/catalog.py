"""The action catalog as the chat tools see it: ids, names, channels, offers, triggers.

Reads decisioning's catalog (examples/catalog.yaml by default); tests may inject their own
list through `ToolEnv.extras["catalog"]`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from decisioning.catalog import load_catalog
from tools.chat.env import ToolEnv, ToolError

__all__ = ["ActionRef", "actions", "find_action"]


@dataclass(frozen=True)
class ActionRef:
    id: str
    name: str
    channel: str
    offer: dict[str, Any] = field(default_factory=dict)
    triggers: tuple[str, ...] = ()


def actions(env: ToolEnv) -> list[ActionRef]:
    """Every action of the current catalog (injected first, else decisioning's)."""
    injected = env.extras.get("catalog")
    if injected is not None:
        return list(injected)
    out = []
    for spec in load_catalog().actions:
        applicability = getattr(spec, "applicability", None)
        triggers = tuple(getattr(applicability, "triggers", None) or ())
        out.append(
            ActionRef(
                id=spec.id,
                name=spec.name,
                channel=spec.channel,
                offer=dict(spec.offer or {}),
                triggers=triggers,
            )
        )
    return out


def _tokens(text: str) -> list[str]:
    words = re.findall(r"[a-z0-9]+", text.lower().replace("_", " "))
    synonyms = {
        "text": "sms",
        "texts": "sms",
        "reminders": "reminder",
        "carts": "cart",
        "e": "email",
        "mail": "email",
        "emails": "email",
        "call": "csm",
        "comeback": "winback",
        "win": "winback",
        "back": "winback",
    }
    return [synonyms.get(w, w) for w in words if w not in {"the", "a", "an", "for", "of"}]


def find_action(env: ToolEnv, asked: str) -> ActionRef:
    """The catalog action a phrase means ("cart reminder", "cart_reminder_sms", "15% win-back")."""
    catalog = actions(env)
    wanted = asked.strip().lower()
    for ref in catalog:
        if ref.id == wanted.replace(" ", "_"):
            return ref
    words = set(_tokens(asked))
    if not words:
        raise ToolError("which action? name one from the catalog")

    def score(ref: ActionRef) -> tuple[float, int]:
        mine = set(_tokens(f"{ref.id} {ref.name} {ref.channel}"))
        offer = ref.offer.get("discount_pct")
        if offer is not None:
            mine |= {str(int(offer)), f"{int(offer)}"}
        hits = len(words & mine)
        # prefer the default channel (email) when the phrase does not name one
        return (hits / len(words), int(ref.channel == "email"))

    best = max(catalog, key=score)
    if score(best)[0] < 0.5:
        names = ", ".join(r.id for r in catalog)
        raise ToolError(f"no catalog action matches {asked!r}; known actions: {names}")
    return best
