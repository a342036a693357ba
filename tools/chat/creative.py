"""Chat tool: preview the creative cjo would write for a catalog action. Sends nothing."""

from __future__ import annotations

from typing import Any

from brand.kit import BrandKitError
from core.domain import Creative, ProfileView
from tools.chat.catalog import find_action
from tools.chat.env import ToolEnv, ToolError, ToolResult
from tools.chat.lookups import load_profile, resolve_customer

__all__ = ["preview_creative"]

# A neutral profile for previews that are not about one customer: no name, no history claims.
_SAMPLE = ProfileView(
    customer_id="preview",
    traits={"first_name": "Alex"},
    computed={"order_count": 2, "tier": "standard"},
)


def _writer(env: ToolEnv) -> Any:
    if env.creative_writer is not None:
        return env.creative_writer
    from brand.creative import write_creative
    from brand.store import BrandStore
    from core.llm import get_llm_client

    store = BrandStore.open(env.settings)
    client = get_llm_client(env.settings)

    def write(**kw: Any) -> Creative:
        return write_creative(store=store, llm=client, **kw)

    return write


def preview_creative(env: ToolEnv, action: str, customer_id: str | None = None) -> ToolResult:
    """Show the creative (subject, text, call to action) cjo would write for a catalog action,
    e.g. "cart reminder" or "winback_email_15", optionally for one customer. Nothing is sent."""
    ref = find_action(env, action)
    profile = _SAMPLE
    if customer_id:
        canonical = resolve_customer(env.session, customer_id)
        profile = load_profile(env.session, canonical) or _SAMPLE
    try:
        creative: Creative = _writer(env)(
            profile=profile,
            action_id=ref.id,
            channel=ref.channel,
            offer=ref.offer,
            session=env.session,
        )
    except BrandKitError as exc:
        raise ToolError(str(exc)) from exc
    lines = [f"Preview of {ref.id} ({ref.name}) on {ref.channel}, not sent:"]
    for key, value in creative.content.items():
        if value and key != "body_html":
            lines.append(f"  {key}: {value}")
    lines.append(f"Brand conformance {creative.conformance_score:.2f} (source {creative.source}).")
    return ToolResult(
        summary="\n".join(lines),
        data={"action_id": ref.id, "creative": creative.model_dump(mode="json")},
    )
