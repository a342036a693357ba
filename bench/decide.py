"""`cjo bench decide`: in-process arbitration speed, 50-action catalog, 100,000 profiles, no LLM.

Times the full pipeline per decision (eligibility, applicability, suitability, LinUCB scoring,
policy arm, holdouts, explanation building) without the database write, and beside it the same
pipeline with rules-only prioritisation (the marketer's priority order, no model scoring), both
in this run on the same profiles. `model_to_rules_ratio` = model throughput / rules throughput.
"""

from __future__ import annotations

import gc
import random
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np

from bench.report import BenchReport, percentile
from core.domain import DecisionContext, ProfileView
from decisioning.arbitration import PolicyConfig, arbitrate
from decisioning.bandit import BanditModel
from decisioning.catalog import Catalog, parse_catalog
from decisioning.features import feature_vector

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
        out.append(
            ProfileView(
                customer_id=f"bench-{i}",
                traits={"email": f"c{i}@example.com", "phone": "+15555550100"},
                consent={"email": yes, "sms": yes if i % 2 else {}, "push": yes},
                computed={
                    "churn_risk": rng.random(),
                    "recency_days": rng.randint(0, 400),
                    "order_count": orders,
                    "monetary": orders * rng.uniform(10, 80),
                    "open_cart": {"items": rng.randint(0, 3), "value": rng.uniform(0, 200)},
                },
                timezone="Europe/Paris",
            )
        )
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


def _time_all(
    profiles: list[ProfileView],
    catalog: Catalog,
    bandit: BanditModel,
    arm: str,
    now: datetime,
    offset: int = 0,
) -> tuple[float, list[float], list[float], int]:
    policy = PolicyConfig(
        global_control_rate=0.05,
        journey_holdout_rate=0.1,
        model_share=0.7,
        epsilon=0.1,
        force_arm=arm,
    )
    latencies: list[float] = []
    cpu: list[float] = []
    chosen = 0
    started = time.perf_counter()
    for i, profile in enumerate(profiles, start=offset):
        ctx = DecisionContext(trigger=TRIGGERS[i % len(TRIGGERS)], journey_slug="bench", seed=i)
        t0, c0 = time.perf_counter(), time.thread_time()
        result = arbitrate(profile, ctx, now=now, catalog=catalog, bandit=bandit, policy=policy)
        latencies.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.thread_time() - c0) * 1000)
        chosen += result.action is not None
    return time.perf_counter() - started, latencies, cpu, chosen


def run(quick: bool = False) -> BenchReport:
    return measure(5_000 if quick else 100_000)


def measure(n: int) -> BenchReport:
    """Time `n` decisions per policy (model and the rules-only baseline)."""
    catalog = bench_catalog(50)
    profiles = bench_profiles(n)
    bandit = _trained_bandit(catalog, profiles)
    now = datetime(2026, 11, 29, 12, tzinfo=UTC)
    _time_all(profiles[: min(500, n)], catalog, bandit, "model", now)  # warm-up
    # The 100k profiles are long-lived: move them out of the cyclic GC's way, as a server
    # would after start-up, so latency measures decisions, not full-heap collections.
    gc.collect()
    gc.freeze()
    # Interleave the two policies in chunks so both see the same machine load.
    totals: dict[str, list[Any]] = {"rules": [0.0, [], [], 0], "model": [0.0, [], [], 0]}
    for start in range(0, n, CHUNK):
        chunk = profiles[start : start + CHUNK]
        for arm in ("rules", "model"):
            seconds, lat, cpu, chosen = _time_all(chunk, catalog, bandit, arm, now, start)
            acc = totals[arm]
            acc[0] += seconds
            acc[1].extend(lat)
            acc[2].extend(cpu)
            acc[3] += chosen
    gc.unfreeze()
    rules_s, rules_lat, _, _ = totals["rules"]
    model_s, model_lat, model_cpu, chosen = totals["model"]
    return BenchReport(
        bench="decide",
        metrics={
            "decisions_per_s": round(n / model_s, 1),
            "p50_ms": round(percentile(model_lat, 50), 4),
            "p99_ms": round(percentile(model_lat, 99), 4),
            "p99_cpu_ms": round(percentile(model_cpu, 99), 4),
            "decisions_per_cpu_s": round(n / (sum(model_cpu) / 1000), 1),
            "rules_decisions_per_s": round(n / rules_s, 1),
            "rules_p99_ms": round(percentile(rules_lat, 99), 4),
            "model_to_rules_ratio": round(rules_s / model_s, 3),
            "action_rate": round(chosen / n, 4),
        },
        details={
            "profiles": n,
            "actions": len(catalog.actions),
            "mean_ms": round(float(np.mean(model_lat)), 4),
            "includes": "full pipeline and explanation; excludes the database write",
        },
    )
