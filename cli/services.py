"""Compose the running orchestrator: the background services `cjo serve` and `cjo run` start.

    events ─► cdp worker ─► trigger firings ─► journey runner ─► outbox ─► dispatcher ─► channels

Everything here is wiring; each piece lives in its own package.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from agents.journey.runner import JourneyRunner
from agents.journey.wiring import build_context, content_acceptance, make_pre_send
from brand.creative import write_creative
from brand.store import BrandStore
from cdp.traits import set_churn_scorer
from cdp.worker import InProcessWorker
from core.domain import Creative, DecisionOutcome, ProfileView
from core.llm import LlmClient
from core.settings import Settings
from decisioning.churn import ChurnModel, load_or_train
from guardrails.expiry import ReviewExpiry
from tools.channels import build_registry
from tools.channels.registry import ChannelRegistry
from tools.dispatcher import Dispatcher

__all__ = ["EXAMPLES", "Orchestrator", "build_orchestrator"]

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
log = logging.getLogger("cjo.services")


@dataclass
class Orchestrator:
    """The parts of one cjo process, and the background services to start, in order."""

    settings: Settings
    engine: Engine
    store: BrandStore
    llm: LlmClient
    churn_model: ChurnModel
    channels: ChannelRegistry
    runner: JourneyRunner
    dispatcher: Dispatcher
    services: list[Any] = field(default_factory=list)


def ensure_brand_kit(
    store: BrandStore, directory: Path = EXAMPLES / "brand", *, refresh: bool = False
) -> str:
    """Load the demo kit when the store holds none (or, for the demo, whenever it changed)."""
    if refresh or not store.version:
        version = store.ingest(directory)
        log.info("brand kit loaded", extra={"fields": {"version": version}})
    return store.version


def build_orchestrator(
    settings: Settings, engine: Engine, *, demo: bool = False, use_llm: bool = True
) -> Orchestrator:
    """Load the models and the brand store, wire the journey context, list the services.

    `use_llm=False` writes creative from approved brand blocks only (tests, air-gapped runs).
    """
    churn_model = load_or_train(Path(settings.data_dir))
    set_churn_scorer(churn_model.score)
    store = BrandStore.open(settings)
    ensure_brand_kit(store, refresh=demo)
    # The journeys' own client: its call records commit in short transactions of their own, so
    # no transaction holds SQLite's write lock while the model writes (see LlmClient).
    llm = LlmClient.from_settings(settings, cache_dir=Path(settings.data_dir) / "llm-cache")
    llm.audit_engine = engine
    writer = llm if use_llm else None

    def creative(session: Session, profile: ProfileView, decision: DecisionOutcome) -> Creative:
        assert decision.action_id is not None and decision.channel is not None
        return write_creative(
            store=store,
            llm=writer,
            profile=profile,
            action_id=decision.action_id,
            channel=decision.channel,
            offer=decision.offer,
            session=session,
            locale=profile.locale,
            accept=content_acceptance(profile, decision, decision.channel),
        )

    context = build_context(engine, settings, write_creative=creative, churn_model=churn_model)
    channels = build_registry(settings, engine)
    runner = JourneyRunner(context, settings)
    dispatcher = Dispatcher(engine, channels, pre_send=make_pre_send())
    services = [
        channels,
        InProcessWorker(engine, settings),
        runner,
        dispatcher,
        ReviewExpiry(engine),
    ]
    return Orchestrator(
        settings, engine, store, llm, churn_model, channels, runner, dispatcher, services
    )
