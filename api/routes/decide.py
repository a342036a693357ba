"""Inbound decisions: what should this visitor see in this web/app slot, right now?

The same arbitration as outbound journeys (the CDP profile as of now, eligibility,
applicability to the placement, the guardrails' suitability checks, the churn model, scoring,
holdouts), plus one more suitability check for web candidates: their content is rendered from
the brand kit and passed through the content guardrails before arbitration may choose them
(`decisioning.inbound`). Blocked content means the next best candidate, or "do nothing": the
answer then has `action_id: null` and `content: null` and the page shows its default.

Content comes from the brand creative agent: the approved-blocks web copy at once, the LLM's web
draft (same guardrail acceptance as journeys) once a background draft has answered, both cached
per segment/action/brand version/locale/offer, so a hot slot never calls the model or re-scores.
The answer names the decision so the page's click can be credited back to it
(`decisioning.learning.record_outcome`).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy.engine import Engine

from agents.journey.wiring import content_acceptance
from api.deps import ServiceDep, WriteSessionDep
from api.errors import ApiError
from brand.conformance import score_content
from brand.creative import resolve_facts, segment_of, write_creative
from brand.drafts import Facts, compose, fallback_draft
from brand.kit import BrandKitError
from brand.store import BrandStore
from cdp.profiles import get_profile_view
from core.clock import utcnow
from core.controls import is_paused
from core.domain import DecisionContext, DecisionOutcome, PlannedAction, ProfileView, Verdict
from core.llm import LlmClient
from core.settings import Settings
from decisioning.arbitration import PolicyConfig
from decisioning.catalog import ActionSpec
from decisioning.churn import ChurnModel, load_or_train
from decisioning.engine import decide, default_catalog
from decisioning.inbound import ContentCheck, ContentUnavailableError, SlotContent, SlotContentCache
from guardrails.engine import evaluate
from guardrails.policy import Policy, default_policy
from guardrails.precheck import suitability_checks

router = APIRouter(prefix="/v1/decide", tags=["decisions"])
_init_lock = threading.Lock()
WEB = "web"


@dataclass
class InboundRuntime:
    """What inbound decisions need, made once per app: brand store, model, churn, policy.

    `llm=None` serves the approved-blocks copy only (tests, air-gapped runs).
    """

    store: BrandStore
    llm: LlmClient | None
    churn_model: ChurnModel | None
    policy: Policy = field(default_factory=default_policy)
    contents: SlotContentCache = field(init=False)

    def __post_init__(self) -> None:
        self.contents = SlotContentCache(
            self._key, self._approved_copy, self._drafted if self.llm is not None else None
        )

    @classmethod
    def build(cls, settings: Settings, engine: Engine) -> InboundRuntime:
        """The app's runtime: the same brand store, model and churn model file as journeys."""
        store = BrandStore.open(settings)
        llm = LlmClient.from_settings(settings, cache_dir=Path(settings.data_dir) / "llm-cache")
        llm.audit_engine = engine
        return cls(store, llm, load_or_train(Path(settings.data_dir)))

    def _facts(self, profile: ProfileView, action: ActionSpec) -> Facts:
        try:
            return resolve_facts(self.store, profile, action.id, dict(action.offer))
        except BrandKitError as exc:
            raise ContentUnavailableError(str(exc)) from exc

    def _key(self, profile: ProfileView, action: ActionSpec) -> Hashable:
        """What the web copy depends on (the greeting is not part of web content)."""
        facts = self._facts(profile, action)
        return (
            segment_of(profile),
            action.id,
            facts.kit.version,
            profile.locale or facts.kit.locale,
            facts.offer.id if facts.offer else "",
            facts.product.sku if facts.product else "",
        )

    def _approved_copy(self, profile: ProfileView, action: ActionSpec) -> SlotContent:
        """The kit's approved blocks for this intent, composed and scored: no model call."""
        facts = self._facts(profile, action)
        content = compose(facts, WEB, fallback_draft(facts, WEB))
        result = score_content(self.store, content, WEB)
        return SlotContent(content, "fallback", facts.kit.version, result.score)

    def _drafted(self, profile: ProfileView, action: ActionSpec) -> SlotContent:
        """The creative agent's web draft, judged by the journeys' content acceptance."""
        decision = DecisionOutcome(
            decision_id="inbound-draft",
            customer_id=profile.customer_id,
            action_id=action.id,
            channel=WEB,
            offer=dict(action.offer),
        )
        creative = write_creative(
            store=self.store,
            llm=self.llm,
            profile=profile,
            action_id=action.id,
            channel=WEB,
            offer=dict(action.offer),
            locale=profile.locale,
            accept=content_acceptance(profile, decision, WEB, self.policy),
        )
        return SlotContent(
            creative.content,
            creative.source,
            creative.brand_version,
            creative.conformance_score,
            final=creative.source != "fallback",  # an outage or refusal: ask again later
        )

    def screen(
        self, profile: ProfileView, action: ActionSpec, slot: SlotContent, now: datetime
    ) -> list[Verdict]:
        """The plan-stage guardrails journeys run, on the words this slot would show."""
        planned = PlannedAction(
            customer_id=profile.customer_id,
            channel=WEB,
            action_id=action.id,
            content=slot.content,
            offer=dict(action.offer),
            conformance_score=slot.conformance_score,
        )
        report = evaluate(planned, profile, now=now, policy=self.policy, counts=Counter())
        return list(report.verdicts)


def _runtime(request: Request) -> InboundRuntime:
    """Made once per app on first use (tests may preset `app.state.inbound_runtime`)."""
    state = request.app.state
    with _init_lock:
        runtime: InboundRuntime | None = getattr(state, "inbound_runtime", None)
        if runtime is None:
            runtime = InboundRuntime.build(state.settings, state.engine)
            state.inbound_runtime = runtime
        return runtime


def _content(action: ActionSpec, slot: SlotContent) -> dict[str, Any]:
    return {"name": action.name, "kind": action.kind, **slot.content}


@router.get("")
def decide_for_placement(
    request: Request,
    session: WriteSessionDep,
    principal: ServiceDep,
    customer_id: Annotated[str, Query(min_length=1, max_length=200)],
    placement: Annotated[str, Query(min_length=1, max_length=100)],
) -> dict[str, Any]:
    """The best content for `placement` for this visitor, or `action_id: null` for the default."""
    catalog = default_catalog()
    placements = sorted({p for a in catalog.actions for p in a.applicability.placements})
    if placement not in placements:
        raise ApiError(
            422,
            f"unknown placement {placement!r}",
            fields=[{"field": "query.placement", "reason": f"one of {', '.join(placements)}"}],
        )
    runtime = _runtime(request)
    # An unknown visitor still gets the best generic content.
    profile = get_profile_view(session, customer_id) or ProfileView(customer_id=customer_id)
    content_check = ContentCheck(
        runtime.contents, runtime.screen, paused=is_paused(session, channel=WEB)
    )
    outcome = decide(
        session,
        profile,
        DecisionContext(trigger="inbound", placement=placement),
        now=utcnow(),
        catalog=catalog,
        suitability=[*suitability_checks(session, runtime.policy), content_check],
        churn_model=runtime.churn_model,
        policy=PolicyConfig.from_settings(),
        actor=principal.actor,
    )
    action = catalog.get(outcome.action_id) if outcome.action_id else None
    slot = content_check.served.get(action.id) if action else None
    return {
        "decision_id": outcome.decision_id,
        "customer_id": outcome.customer_id,
        "placement": placement,
        "action_id": outcome.action_id,
        "content": _content(action, slot) if action and slot else None,
        "creative": slot.describe() if slot else None,
        "offer": outcome.offer,
        "policy_arm": outcome.policy_arm,
        "holdout": outcome.holdout,
        "reason": outcome.explanation["chosen"]["reason"],
        "explanation_url": f"/v1/decisions/{outcome.decision_id}",
    }
