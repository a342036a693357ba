"""`cjo bench decide`: in-process arbitration speed, 50-action catalog, 100,000 profiles, no LLM.

Times the full pipeline per decision (eligibility, applicability, suitability, LinUCB scoring,
policy arm, holdouts, explanation building) without the database write, each customer with 0-6
past decisions so cooldowns and the offer budget do real work, and beside it the same pipeline
with rules-only prioritisation (the marketer's priority order, no model scoring), both in this
run on the same profiles. `model_to_rules_ratio` = model throughput / rules throughput.

Wall-clock latency on a shared machine mixes what a decision costs with time the thread was not
running; so the report also gives the deciding thread's CPU time (`p99_cpu_ms`), the gap between
the two (`p99_wait_ms`: scheduling), every cyclic-GC pause seen (`gc_*`, and the share of the
p99 tail that overlapped one), and a second pass with the GC disabled (`p99_ms_gc_off`).
"""

from __future__ import annotations

import gc
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from bench.report import BenchReport, percentile
from core.domain import DecisionContext, ProfileView
from decisioning.arbitration import PolicyConfig, arbitrate
from decisioning.bandit import BanditModel
from decisioning.catalog import Catalog, parse_catalog
from decisioning.features import feature_vector
from decisioning.suitability import PastDecision

__all__ = ["bench_catalog", "bench_profiles", "measure", "run"]

TRIGGERS = ("cart_abandoned", "churn_risk_high", "no_purchase_90d", "first_purchase")
CHANNELS = ("email", "sms", "push", "audience", "csm", "web")
CHUNK = 1000


def bench_catalog(n_actions: int = 50) -> Catalog:
    """A synthetic but realistic catalog: mixed channels, rules, cooldowns, offers."""
    rng = random.Random(7)
    actions = []
    for i in range(n_actions):
        channel = CHANNELS[i % len(CHANNELS)]
        rules = [{"field": "computed.churn_risk", "op": ">=", "value": round(rng.random(), 2)}]
        if i % 3 == 0:
            rules.append({"field": "computed.order_count", "op": ">=", "value": 1})
        offer = {"discount_pct": rng.choice([5, 10, 15])} if i % 4 == 0 else {}
        actions.append(
            {
                "id": f"action_{i:02d}",
                "name": f"Action {i}",
                "channel": channel,
                "kind": "offer" if offer else "nudge",
                "offer": offer,
                "cost": round(rng.uniform(0, 3), 2),
                "value": round(rng.uniform(10, 100), 1),
                "base_propensity": round(rng.uniform(0.01, 0.2), 3),
                "priority": round(rng.uniform(0.8, 1.3), 2),
                "cooldown_days": rng.choice([0, 3, 30]),
                "eligibility": rules,
                "applicability": (
                    {"placements": ["home_hero"]}
                    if channel == "web"
                    else {"triggers": rng.sample(TRIGGERS, 2)}
                ),
            }
        )
    return parse_catalog({"version": "bench", "actions": actions})


def bench_profiles(n: int, seed: int = 11) -> list[ProfileView]:
    rng = random.Random(seed)
    yes = {"status": "subscribed"}
    out = []
    for i in range(n):
        orders = rng.randint(0, 20)
        average = rng.uniform(10, 80)
        out.append(
            ProfileView(
                customer_id=f"bench-{i}",
                traits={"email": f"c{i}@example.com", "phone": "+15555550100"},
                consent={"email": yes, "sms": yes if i % 2 else {}, "push": yes},
                computed={
                    "churn_risk": rng.random(),
                    "recency_days": rng.randint(0, 400),
                    "order_count": orders,
                    "order_value": round(orders * average, 2),  # CDP meanings: total ...
                    "monetary": round(average, 2) if orders else 0.0,  # ... and average
                    "open_cart": {"items": rng.randint(0, 3), "value": rng.uniform(0, 200)},
                },
                timezone="Europe/Paris",
            )
        )
    return out


def bench_histories(
    catalog: Catalog, n: int, now: datetime, seed: int = 13
) -> list[list[PastDecision]]:
    """Each profile's recent decisions (0-6 in the last 45 days), so cooldowns and the offer
    budget look at real history: about a third of customers hit one or the other."""
    rng = random.Random(seed)
    out: list[list[PastDecision]] = []
    for _ in range(n):
        past = []
        for _ in range(rng.randint(0, 6)):
            action = rng.choice(catalog.actions)
            at = now - timedelta(days=rng.uniform(0, 45))
            past.append(PastDecision(action.id, at, action.discount_pct))
        out.append(sorted(past, key=lambda p: p.at))
    return out


def _trained_bandit(catalog: Catalog, profiles: list[ProfileView]) -> BanditModel:
    """A bandit that has learned from 2,000 outcomes, so scores are not all priors."""
    rng = random.Random(3)
    model = BanditModel()
    for profile in profiles[:2000]:
        action = rng.choice(catalog.actions)
        reward = 1.0 if rng.random() < action.base_propensity else 0.0
        model.update(action.id, feature_vector(profile), reward, action.base_propensity)
    return model


class _GcWatch:
    """gc callback: how many collections ran and how long each paused the thread."""

    def __init__(self) -> None:
        self.count = 0
        self.pauses_ms: list[float] = []
        self._start = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.count += 1
            self.pauses_ms.append((time.perf_counter() - self._start) * 1000)


@dataclass
class _Timings:
    """One policy's figures over the timed decisions."""

    seconds: float = 0.0
    wall_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    had_gc: list[bool] = field(default_factory=list)
    chosen: int = 0
    blocked: Counter[str] = field(default_factory=Counter)


def _policy(arm: str) -> PolicyConfig:
    return PolicyConfig(
        global_control_rate=0.05,
        journey_holdout_rate=0.1,
        model_share=0.7,
        epsilon=0.1,
        force_arm=arm,
    )


def _time_all(
    profiles: list[ProfileView],
    histories: list[list[PastDecision]],
    catalog: Catalog,
    bandit: BanditModel,
    arm: str,
    now: datetime,
    out: _Timings,
    *,
    offset: int = 0,
    gc_watch: _GcWatch | None = None,
) -> None:
    policy = _policy(arm)
    started = time.perf_counter()
    for i, profile in enumerate(profiles, start=offset):
        ctx = DecisionContext(trigger=TRIGGERS[i % len(TRIGGERS)], journey_slug="bench", seed=i)
        history = histories[i]
        collections = gc_watch.count if gc_watch else 0
        t0, c0 = time.perf_counter(), time.thread_time()
        result = arbitrate(
            profile, ctx, now=now, catalog=catalog, bandit=bandit, history=history, policy=policy
        )
        out.wall_ms.append((time.perf_counter() - t0) * 1000)
        out.cpu_ms.append((time.thread_time() - c0) * 1000)
        out.had_gc.append(gc_watch is not None and gc_watch.count != collections)
        out.chosen += result.action is not None
        for cand in result.explanation["candidates"]:
            for check in cand["filters"]:
                if not check["passed"] and check["check"] in ("cooldown", "budget"):
                    out.blocked[check["check"]] += 1
    out.seconds += time.perf_counter() - started


def run(quick: bool = False) -> BenchReport:
    return measure(5_000 if quick else 100_000)


def _tail_gc_share(t: _Timings) -> float:
    """Of the decisions slower than the p99 (wall), the share during which a gc pause ran."""
    cut = percentile(t.wall_ms, 99)
    tail = [g for w, g in zip(t.wall_ms, t.had_gc, strict=True) if w >= cut]
    return sum(tail) / len(tail) if tail else 0.0


def measure(n: int) -> BenchReport:
    """Time `n` decisions per policy (model and the rules-only baseline), then the model
    again with the cyclic GC off, to say how much of the tail is the collector."""
    catalog = bench_catalog(50)
    profiles = bench_profiles(n)
    now = datetime(2026, 11, 29, 12, tzinfo=UTC)
    histories = bench_histories(catalog, n, now)
    bandit = _trained_bandit(catalog, profiles)
    _time_all(profiles[: min(500, n)], histories, catalog, bandit, "model", now, _Timings())
    # The 100k profiles are long-lived: move them out of the cyclic GC's way, as a server
    # would after start-up, so latency measures decisions, not full-heap collections.
    gc.collect()
    gc.freeze()
    watch = _GcWatch()
    gc.callbacks.append(watch)
    runs = {"rules": _Timings(), "model": _Timings()}
    try:  # interleave the two policies in chunks so both see the same machine load
        for start in range(0, n, CHUNK):
            chunk = profiles[start : start + CHUNK]
            for arm in ("rules", "model"):
                _time_all(
                    chunk,
                    histories,
                    catalog,
                    bandit,
                    arm,
                    now,
                    runs[arm],
                    offset=start,
                    gc_watch=watch,
                )
    finally:
        gc.callbacks.remove(watch)
    gc_off = _Timings()
    gc.disable()
    try:
        off_n = min(n, 20_000)
        _time_all(profiles[:off_n], histories, catalog, bandit, "model", now, gc_off)
    finally:
        gc.enable()
        gc.unfreeze()
    rules, model = runs["rules"], runs["model"]
    wait = [w - c for w, c in zip(model.wall_ms, model.cpu_ms, strict=True)]
    return BenchReport(
        bench="decide",
        metrics={
            "decisions_per_s": round(n / model.seconds, 1),
            "p50_ms": round(percentile(model.wall_ms, 50), 4),
            "p99_ms": round(percentile(model.wall_ms, 99), 4),
            "p99_cpu_ms": round(percentile(model.cpu_ms, 99), 4),
            "p99_wait_ms": round(percentile(wait, 99), 4),
            "decisions_per_cpu_s": round(n / (sum(model.cpu_ms) / 1000), 1),
            "p99_ms_gc_off": round(percentile(gc_off.wall_ms, 99), 4),
            "p99_cpu_ms_gc_off": round(percentile(gc_off.cpu_ms, 99), 4),
            "gc_collections": float(watch.count),
            "gc_pause_max_ms": round(max(watch.pauses_ms, default=0.0), 4),
            "gc_pause_total_ms": round(sum(watch.pauses_ms), 2),
            "p99_tail_gc_share": round(_tail_gc_share(model), 4),
            "rules_decisions_per_s": round(n / rules.seconds, 1),
            "rules_p99_ms": round(percentile(rules.wall_ms, 99), 4),
            "rules_p99_cpu_ms": round(percentile(rules.cpu_ms, 99), 4),
            "model_to_rules_ratio": round(rules.seconds / model.seconds, 3),
            "action_rate": round(model.chosen / n, 4),
            "cooldown_blocks_per_decision": round(model.blocked["cooldown"] / n, 4),
            "budget_blocks_per_decision": round(model.blocked["budget"] / n, 4),
        },
        details={
            "profiles": n,
            "actions": len(catalog.actions),
            "mean_history": round(sum(map(len, histories)) / n, 2),
            "gc_off_profiles": min(n, 20_000),
            "mean_ms": round(float(np.mean(model.wall_ms)), 4),
            "includes": "full pipeline and explanation with each customer's decision history "
            "(cooldowns, offer budget); excludes the database write",
        },
    )
