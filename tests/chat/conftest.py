"""Chat fixtures: a seeded database, a scripted fake chat model, a graph with memory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langgraph.checkpoint.memory import InMemorySaver
from sqlalchemy.engine import Engine

from agents.chat.context import ChatContext, ChatPolicy
from agents.chat.graph import build_chat_graph
from agents.chat.router import ToolRouter
from agents.chat.service import run_turn
from core.clock import utcnow
from core.db import session_scope
from core.domain import Creative
from core.keys import Role
from core.settings import Settings
from core.tables import Customer, Decision, Event, Journey, Profile, Review
from tools.chat.catalog import ActionRef

CATALOG = [
    ActionRef(
        "winback_email_15",
        "Win-back offer email, 15% off",
        "email",
        {"discount_pct": 15, "code": "COMEBACK15"},
        ("churn_risk_high", "no_purchase_90d"),
    ),
    ActionRef(
        "winback_email_10",
        "Win-back offer email, 10% off",
        "email",
        {"discount_pct": 10},
        ("churn_risk_high", "no_purchase_90d"),
    ),
    ActionRef("cart_reminder_email", "Cart reminder email", "email", {}, ("cart_abandoned",)),
    ActionRef("cart_reminder_sms", "Cart reminder SMS", "sms", {}, ("cart_abandoned",)),
    ActionRef(
        "csm_outreach", "CSM outreach call", "csm", {}, ("churn_risk_high", "no_purchase_90d")
    ),
]

WINBACK_YAML = """slug: winback
name: Win-back
trigger: no_purchase_90d
steps:
  - {id: offer, kind: action, actions: [winback_email_15], channels: [email]}
"""


class ScriptedChatModel(GenericFakeChatModel):
    """Replies with queued messages; `bind_tools` keeps the script (langchain's fakes lack it)."""

    disable_streaming: bool = True  # the fake cannot stream a message with only tool calls

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self


def scripted(*replies: AIMessage) -> ScriptedChatModel:
    return ScriptedChatModel(messages=iter(replies))


def call(name: str, **args: Any) -> AIMessage:
    return AIMessage("", tool_calls=[{"name": name, "args": args, "id": f"call_{name}"}])


def seed(engine: Engine) -> None:
    """Five customers (two at churn risk, one lapsed VIP), a decision with an explanation,
    an active journey, a pending review."""
    now = utcnow()
    profiles = {
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
        for cid, computed in profiles.items():
            s.add(Customer(id=cid))
            s.add(
                Profile(
                    customer_id=cid, computed=computed, consent={"email": {"status": "subscribed"}}
                )
            )
        s.add(
            Event(
                message_id="m1",
                type="track",
                event="Order Completed",
                customer_id="1044",
                timestamp=now - timedelta(days=1),
            )
        )
        s.add(
            Decision(
                id="d" * 32,
                customer_id="1042",
                journey_slug="winback",
                action_id="winback_email_15",
                channel="email",
                created_at=now - timedelta(days=2),
                explanation={
                    "summary": "Highest expected value among eligible actions.",
                    "offer": {"discount_pct": 15},
                    "candidates": [
                        {"action_id": "winback_email_15", "score": 0.91},
                        {"action_id": "winback_email_10", "score": 0.62},
                        {
                            "action_id": "csm_outreach",
                            "eligible": False,
                            "failed": ["monetary < 500"],
                        },
                    ],
                },
            )
        )
        s.add(Journey(slug="winback", name="Win-back", definition=WINBACK_YAML, status="active"))
        s.add(
            Review(
                id="ab12" + "0" * 28,
                customer_id="1043",
                channel="sms",
                action_id="cart_reminder_sms",
                content={"text": "hi"},
                content_hash="h",
                risk_score=0.6,
                reasons=["low_conformance"],
            )
        )


def fake_writer(**kw: Any) -> Creative:
    return Creative(
        channel=kw["channel"],
        content={"subject": f"About {kw['action_id']}", "body_text": "Your cart misses you."},
        conformance_score=0.9,
        source="llm",
    )


@pytest.fixture(scope="session")
def router() -> ToolRouter:
    return ToolRouter()


@pytest.fixture
def seeded(sqlite_engine: Engine) -> Engine:
    seed(sqlite_engine)
    return sqlite_engine


@pytest.fixture
def chat_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "var", environment="test")


Chat = Callable[..., list[dict[str, Any]]]


@pytest.fixture
def make_chat(
    seeded: Engine, chat_settings: Settings, router: ToolRouter
) -> Iterator[Callable[..., Chat]]:
    """make_chat(role, llm, embedded) -> say(message, conversation_id="c1", confirm=None)."""

    def factory(role: Role = Role.marketer, llm: Any = None, embedded: bool = True) -> Chat:
        graph = build_chat_graph(InMemorySaver())
        ctx = ChatContext(
            engine=seeded,
            settings=chat_settings,
            role=role,
            actor=f"key:{role.value}",
            llm=llm,
            router=router,
            policy=ChatPolicy.for_backend(embedded),
            extras={"catalog": CATALOG},
            creative_writer=fake_writer,
        )

        def say(
            message: str, conversation_id: str = "c1", confirm: bool | None = None
        ) -> list[dict[str, Any]]:
            return list(
                run_turn(graph, ctx, message, conversation_id=conversation_id, confirm=confirm)
            )

        return say

    yield factory


def reply(events: list[dict[str, Any]]) -> str:
    return next((e["text"] for e in events if e["type"] == "message"), "")


def tool_calls(events: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [(e["name"], e["args"]) for e in events if e["type"] == "tool_call"]
