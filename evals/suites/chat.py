"""Chat tool use: does the assistant pick the right tool with the right arguments, or refuse?

Runs every request of evals/datasets/chat.jsonl (marketer unless the row names a role) through
the real chat graph against a small seeded world, per backend:

- `embedded` (the default, always): the local SmolLM2 model behind the router and repair;
  its figures are the unprefixed `tool_accuracy`, `argument_accuracy`, `refusal_accuracy`,
  `fully_correct_rate`, `p50_ms`, `p95_ms`.
- `embedded_unguided_*`: the same model choosing among all tools with no narrowing, repair or
  fallback: what the design adds.
- `rules_only_*`: router and slot rules with no model at all.
- `embedded_top3_*` (only with CJO_EVAL_CHAT_ABLATIONS=1): the model choosing among the
  router's 3 best tools instead of its best one.
- `openai_compatible_*`: when CJO_LLM_BASE_URL is configured.

CJO_EVAL_CHAT_BACKENDS (comma-separated) runs only some of them.

Argument check: every expected key must match (strings case- and hyphen-insensitively; a
value starting with `~` must be contained); extra arguments are not penalised.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langgraph.checkpoint.memory import InMemorySaver
from sqlalchemy.engine import Engine

from agents.chat.context import ChatContext, ChatPolicy
from agents.chat.factory import default_router
from agents.chat.graph import build_chat_graph
from agents.chat.service import run_turn
from brand.store import BrandStore
from core.clock import utcnow
from core.db import make_engine, migrate, session_scope
from core.keys import Role
from core.llm import get_chat_model
from core.settings import Settings
from core.tables import Customer, Decision, Event, Journey, Profile, Review
from evals.report import EvalReport, Target

DATASET = Path(__file__).resolve().parent.parent / "datasets" / "chat.jsonl"
BRAND_KIT = Path(__file__).resolve().parents[2] / "examples" / "brand"


@dataclass(frozen=True)
class Case:
    id: str
    text: str
    role: Role
    tool: str | None
    args: dict[str, Any] = field(default_factory=dict)

    @property
    def refusal(self) -> bool:
        return self.tool is None


def load_cases(path: Path = DATASET) -> list[Case]:
    cases = []
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            cases.append(
                Case(
                    row["id"],
                    row["text"],
                    Role(row.get("role", "marketer")),
                    None if row.get("refusal") else row["tool"],
                    row.get("args", {}),
                )
            )
    return cases


def seed_world(engine: Engine) -> None:
    """Customers 1042-1046, a decision with its explanation, journeys, a pending review."""
    now = utcnow()
    computed = {
        "1042": {"churn_risk": 0.82, "tier": "gold", "recency_days": 120, "order_count": 4},
        "1043": {"churn_risk": 0.75, "tier": "standard", "recency_days": 40, "order_count": 2},
        "1044": {"churn_risk": 0.2, "tier": "standard", "recency_days": 5, "order_count": 9},
        "1045": {"churn_risk": 0.4, "tier": "platinum", "recency_days": 10, "order_count": 1},
        "1046": {
            "churn_risk": 0.1,
            "recency_days": 2,
            "order_count": 3,
            "open_cart": {"items": 2, "value": 80},
        },
    }
    with session_scope(engine) as s:
        for cid, values in computed.items():
            s.add(Customer(id=cid))
            s.add(
                Profile(
                    customer_id=cid, computed=values, consent={"email": {"status": "subscribed"}}
                )
            )
        s.add(
            Event(
                message_id="eval-1",
                type="track",
                event="Order Completed",
                customer_id="1042",
                timestamp=now - timedelta(hours=12),
            )
        )
        s.add(
            Decision(
                customer_id="1042",
                journey_slug="winback",
                action_id="winback_email_15",
                channel="email",
                created_at=now - timedelta(days=2),
                explanation={
                    "summary": "Highest expected value among eligible actions.",
                    "offer": {"discount_pct": 15},
                    "candidates": [
                        {"action_id": "winback_email_15", "score": 0.9},
                        {
                            "action_id": "csm_outreach",
                            "eligible": False,
                            "failed": ["monetary < 500"],
                        },
                    ],
                },
            )
        )
        for slug, status in (
            ("winback", "active"),
            ("cart-recovery", "active"),
            ("winback-vip", "proposed"),
        ):
            s.add(
                Journey(
                    slug=slug,
                    name=slug,
                    status=status,
                    definition=(
                        f"slug: {slug}\nname: {slug}\ntrigger: no_purchase_90d\nsteps:\n"
                        "  - {id: offer, kind: action, channels: [email]}\n"
                    ),
                )
            )
        s.add(
            Review(
                id="ab12" + "0" * 28,
                customer_id="1043",
                channel="sms",
                content={},
                content_hash="h",
                risk_score=0.5,
            )
        )


def _norm(value: Any) -> Any:
    if isinstance(value, str):
        return re.sub(r"[\s_-]+", " ", value.lower()).strip().rstrip("?.!")
    return value


def args_match(expected: dict[str, Any], actual: dict[str, Any]) -> bool:
    for key, want in expected.items():
        got = actual.get(key)
        if isinstance(want, str) and want.startswith("~"):
            if not isinstance(got, str) or _norm(want[1:]) not in _norm(got):
                return False
        elif _norm(got) != _norm(want):
            return False
    return True


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1) if ordered else 0.0


def run_backend(
    cases: list[Case],
    engine: Engine,
    settings: Settings,
    llm: BaseChatModel | None,
    policy: ChatPolicy,
) -> tuple[dict[str, float], list[Any]]:
    """Figures of one backend, and the cases it got wrong."""
    graph = build_chat_graph(InMemorySaver())
    tool_ok = args_ok = refusals_ok = fully = 0
    latencies: list[float] = []
    wrong = []
    for case in cases:
        ctx = ChatContext(
            engine=engine,
            settings=settings,
            role=case.role,
            actor="eval",
            llm=llm,
            router=default_router(),
            policy=policy,
        )
        started = time.perf_counter()
        events = list(
            run_turn(graph, ctx, case.text, conversation_id=f"eval-{case.id}-{id(policy)}")
        )
        latencies.append((time.perf_counter() - started) * 1000)
        calls = [(e["name"], e["args"]) for e in events if e["type"] == "tool_call"]
        if case.refusal:
            good = not calls
            refusals_ok += good
        else:
            right_tool = bool(calls) and calls[0][0] == case.tool
            right_args = right_tool and args_match(case.args, calls[0][1])
            tool_ok += right_tool
            args_ok += right_args
            good = right_args
        fully += good
        if not good:
            wrong.append({"id": case.id, "got": calls[:1] or "refused"})
    tool_cases = sum(1 for c in cases if not c.refusal) or 1
    refusal_cases = sum(1 for c in cases if c.refusal) or 1
    metrics = {
        "tool_accuracy": round(tool_ok / tool_cases, 4),
        "argument_accuracy": round(args_ok / max(tool_ok, 1), 4),
        "refusal_accuracy": round(refusals_ok / refusal_cases, 4),
        "fully_correct_rate": round(fully / max(len(cases), 1), 4),
        "p50_ms": _percentile(latencies, 0.5),
        "p95_ms": _percentile(latencies, 0.95),
    }
    return metrics, wrong


def embedded_model() -> BaseChatModel:
    """The embedded SmolLM2 chat model (core.llm's, which constrains tool calls by grammar)."""
    return get_chat_model(Settings(llm_base_url=None))


def run(limit: int | None = None, backends: tuple[str, ...] | None = None) -> EvalReport:
    """Evaluate; `limit` takes the first N cases, `backends` picks which (tests use tiny runs)."""
    cases = load_cases()[:limit] if limit else load_cases()
    listed = os.environ.get("CJO_EVAL_CHAT_BACKENDS")  # e.g. "embedded,rules_only"
    chosen = (
        backends
        or (tuple(listed.split(",")) if listed else None)
        or ("embedded", "embedded_unguided", "rules_only", "openai_compatible")
    )
    metrics: dict[str, float] = {"cases": len(cases)}
    details: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="cjo-eval-chat-") as tmp:
        settings = Settings(data_dir=Path(tmp), environment="test")
        engine = make_engine(settings.resolved_database_url)
        migrate(engine)
        seed_world(engine)
        BrandStore.open(settings).ingest(BRAND_KIT)  # creative previews need the demo kit
        plans: list[tuple[str, BaseChatModel | None, ChatPolicy]] = []
        if "embedded" in chosen or "embedded_unguided" in chosen:
            model = embedded_model()
            if "embedded" in chosen:
                plans.append(("", model, ChatPolicy.for_backend(embedded=True)))
            if "embedded_unguided" in chosen:
                plans.append(("embedded_unguided_", model, ChatPolicy(guided=False)))
            if os.environ.get("CJO_EVAL_CHAT_ABLATIONS") == "1":
                plans.append(("embedded_top3_", model, ChatPolicy(k=3, confident_margin=0.3)))
        if "rules_only" in chosen:
            plans.append(("rules_only_", None, ChatPolicy.for_backend(embedded=True)))
        remote = os.environ.get("CJO_LLM_BASE_URL")
        if "openai_compatible" in chosen and remote:
            remote_settings = Settings(
                llm_base_url=remote,
                llm_model=os.environ.get("CJO_LLM_MODEL"),
                llm_api_key=os.environ.get("CJO_LLM_API_KEY"),
            )
            plans.append(
                (
                    "openai_compatible_",
                    get_chat_model(remote_settings),
                    ChatPolicy.for_backend(embedded=False),
                )
            )
        for prefix, llm, policy in plans:
            figures, wrong = run_backend(cases, engine, settings, llm, policy)
            metrics.update({f"{prefix}{k}": v for k, v in figures.items()})
            details[f"{prefix or 'embedded_'}wrong"] = wrong
        engine.dispose()
    targets = {"fully_correct_rate": Target(">=", 0.85)} if "embedded" in chosen else {}
    return EvalReport(suite="chat", metrics=metrics, targets=targets, details=details)
