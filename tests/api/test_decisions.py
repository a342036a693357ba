"""GET /v1/decide answers a placement with brand content; GET /v1/decisions/{id} explains it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from api.routes.decide import InboundRuntime
from brand.store import BrandStore
from cdp.identity import resolve_customer_id
from cdp.pipeline import drain
from cdp.triggers import TriggerSet
from core.controls import set_paused
from core.db import session_scope
from core.keys import Role
from core.llm import Completion, LlmClient
from core.tables import AuditEntry, Decision
from decisioning.churn import CHURN_FEATURES, ChurnModel
from decisioning.holdout import get_decisioning_settings
from decisioning.learning import record_outcome
from guardrails.policy import Policy, default_policy
from tests.cdp.factories import identify, ingest, order, track
from tests.conftest import auth

DEMO_KIT = Path(__file__).resolve().parents[2] / "examples" / "brand"
# Fixed coefficients: a real ChurnModel without training on CDNOW in every API test.
CHURN = ChurnModel(
    mean=(0.0,) * len(CHURN_FEATURES),
    scale=(1.0,) * len(CHURN_FEATURES),
    coef=(0.8, -0.5, -0.2, 0.0, 0.0, 1.0),
    intercept=-2.0,
)
GOOD_WEB = {
    "headline": "Your basket is still here",
    "body": "Your items are still in your basket when you are ready to ride.",
    "cta_text": "Return to your basket",
}


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> BrandStore:
    store = BrandStore(tmp_path_factory.mktemp("brand-store"))
    store.ingest(DEMO_KIT)
    return store


@pytest.fixture(autouse=True)
def no_holdouts_model_arm(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """CDP customer ids are random: fix the arm and the control group for stable answers."""
    monkeypatch.setenv("CJO_DECISIONING_GLOBAL_CONTROL_RATE", "0")
    monkeypatch.setenv("CJO_DECISIONING_MODEL_SHARE", "1")
    get_decisioning_settings.cache_clear()
    yield
    get_decisioning_settings.cache_clear()


class _Backend:
    name = "scripted"
    model = "scripted-model"

    def __init__(self, *replies: dict[str, str]) -> None:
        self.replies = list(replies)
        self.requests: list[list[dict[str, str]]] = []

    def complete(self, messages: list[dict[str, str]], schema: dict[str, Any], **_: Any) -> Any:
        import json

        self.requests.append(messages)
        return Completion(json.dumps(self.replies.pop(0)), prompt_tokens=10, completion_tokens=5)


def _runtime(
    client: TestClient,
    store: BrandStore,
    *,
    llm: LlmClient | None = None,
    policy: Policy | None = None,
) -> InboundRuntime:
    from brand.variants import VariantCache

    store.variants = VariantCache()  # each test starts with a cold variant cache
    runtime = InboundRuntime(store, llm, CHURN, policy or default_policy())
    client.app.state.inbound_runtime = runtime  # type: ignore[attr-defined]
    return runtime


def _seed_customer(client: TestClient, engine: Engine) -> str:
    """A real CDP profile: four orders, then an item left in the basket."""
    ingest(
        engine,
        identify("user-42", 0, email="web@example.com", first_name="Ada"),
        *(order("user-42", 60 * 24 * d, revenue=75.0) for d in range(4)),
        track("Product Added", "user-42", 60 * 24 * 5, quantity=1, price=50.0),
    )
    drain(engine, rules=TriggerSet())
    with Session(engine) as session:
        canonical = resolve_customer_id(session, "user-42")
    assert canonical is not None
    return canonical


def _decide(client: TestClient, key: str, placement: str, customer: str = "user-42") -> dict:
    response = client.get(
        "/v1/decide", params={"customer_id": customer, "placement": placement}, headers=auth(key)
    )
    assert response.status_code == 200, response.text
    return response.json()


def _candidates(client: TestClient, key: str, body: dict) -> dict[str, dict]:
    decision = client.get(body["explanation_url"], headers=auth(key)).json()
    return {c["action_id"]: c for c in decision["explanation"]["candidates"]}


def test_decide_answers_with_brand_content_and_the_decision_explains_it(
    client: TestClient, role_keys: dict[Role, str], sqlite_engine: Engine, demo_store: BrandStore
) -> None:
    _runtime(client, demo_store)
    canonical = _seed_customer(client, sqlite_engine)
    body = _decide(client, role_keys[Role.service], "cart_sidebar")
    assert body["customer_id"] == canonical  # resolved from the userId
    assert body["action_id"] == "banner_cart_sidebar" and not body["holdout"]
    content = body["content"]
    assert content["name"] == "Cart sidebar banner, free shipping threshold"
    assert content["headline"] == "Your basket is still here"
    assert content["cta_url"] == "https://kestrel.example/basket"
    assert content["body"] and content["cta_text"]
    assert body["creative"]["source"] == "fallback"  # approved blocks: no model configured
    assert body["creative"]["brand_version"] == demo_store.version

    explained = client.get(body["explanation_url"], headers=auth(role_keys[Role.marketer]))
    decision = explained.json()
    assert decision["action_id"] == body["action_id"] and decision["placement"] == "cart_sidebar"
    assert decision["explanation"]["chosen"]["action_id"] == "banner_cart_sidebar"
    assert decision["explanation"]["churn"]["model_version"] == CHURN.version  # journeys' model
    candidates = {c["action_id"]: c for c in decision["explanation"]["candidates"]}
    assert candidates["cart_reminder_email"]["passed"] is False
    screened = [
        f for f in candidates["banner_cart_sidebar"]["filters"] if f["check"] == "inbound_content"
    ]
    assert screened and screened[0]["passed"]
    assert body["creative"]["content_digest"] in screened[0]["reason"]  # exactly what was shown
    assert decision["outcomes"] == []
    with Session(sqlite_engine) as session:
        kinds = [e.kind for e in session.exec(select(AuditEntry)).all()]
    assert "decision.made" in kinds


def test_blocked_content_falls_back_to_doing_nothing(
    client: TestClient, role_keys: dict[Role, str], sqlite_engine: Engine, demo_store: BrandStore
) -> None:
    base = default_policy()
    strict = base.model_copy(
        update={"content": base.content.model_copy(update={"banned_phrases": ["basket"]})}
    )
    _runtime(client, demo_store, policy=strict)
    _seed_customer(client, sqlite_engine)
    body = _decide(client, role_keys[Role.service], "cart_sidebar")
    assert body["action_id"] is None and body["content"] is None and body["creative"] is None
    assert body["reason"] == "no_candidate_passed"
    candidates = _candidates(client, role_keys[Role.marketer], body)
    failed = [f for f in candidates["banner_cart_sidebar"]["filters"] if not f["passed"]]
    assert [f["check"] for f in failed] == ["inbound_content"]
    assert "banned_phrase:basket" in failed[0]["reason"]
    with Session(sqlite_engine) as session:
        stored = session.get(Decision, body["decision_id"])
        assert stored is not None and stored.action_id is None  # the record matches the page


def test_a_paused_web_channel_shows_the_default(
    client: TestClient, role_keys: dict[Role, str], sqlite_engine: Engine, demo_store: BrandStore
) -> None:
    _runtime(client, demo_store)
    with session_scope(sqlite_engine) as session:
        set_paused(session, scope="channel", target="web", paused=True, actor="test")
    body = _decide(client, role_keys[Role.service], "home_hero", customer="anon-9")
    assert body["action_id"] is None and body["content"] is None
    candidates = _candidates(client, role_keys[Role.marketer], body)
    assert "kill_switch" in candidates["banner_home_hero"]["filters"][-1]["reason"]


def test_a_hot_slot_calls_the_model_once_and_never_rescoring(
    client: TestClient,
    role_keys: dict[Role, str],
    demo_store: BrandStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    backend = _Backend(GOOD_WEB, GOOD_WEB)
    runtime = _runtime(client, demo_store, llm=LlmClient(backend, backoff_s=0.0))
    service = role_keys[Role.service]
    first = _decide(client, service, "home_hero", customer="anon-1")
    assert first["action_id"] == "banner_home_hero"
    assert first["creative"]["source"] == "fallback"  # at once, while the model drafts
    runtime.contents.wait(timeout=60)
    asked = len(backend.requests)
    assert asked >= 1

    import api.routes.decide as route
    import brand.creative as creative

    scored: list[str] = []

    def counting(*args: Any, **kw: Any) -> Any:
        scored.append("score")
        raise AssertionError("a hot slot must not re-score its copy")

    monkeypatch.setattr(route, "score_content", counting)
    monkeypatch.setattr(creative, "score_content", counting)
    for i in range(2, 7):
        body = _decide(client, service, "home_hero", customer=f"anon-{i}")
        assert body["creative"]["source"] in ("llm", "revised")
        assert body["content"]["headline"] == GOOD_WEB["headline"]
    assert len(backend.requests) == asked and scored == []


def test_outcomes_show_on_the_decision(
    client: TestClient, role_keys: dict[Role, str], sqlite_engine: Engine, demo_store: BrandStore
) -> None:
    _runtime(client, demo_store)
    _seed_customer(client, sqlite_engine)
    body = _decide(client, role_keys[Role.service], "home_hero")
    with session_scope(sqlite_engine) as session:
        record_outcome(session, decision_id=body["decision_id"], reward=1.0, kind="click")
    decision = client.get(body["explanation_url"], headers=auth(role_keys[Role.marketer])).json()
    assert [o["kind"] for o in decision["outcomes"]] == ["click"]


def test_unknown_placement_is_a_422_naming_the_field(
    client: TestClient, role_keys: dict[Role, str]
) -> None:
    response = client.get(
        "/v1/decide",
        params={"customer_id": "anyone", "placement": "footer"},
        headers=auth(role_keys[Role.service]),
    )
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "query.placement"


def test_missing_customer_id_is_a_422(client: TestClient, role_keys: dict[Role, str]) -> None:
    response = client.get(
        "/v1/decide", params={"placement": "home_hero"}, headers=auth(role_keys[Role.service])
    )
    assert response.status_code == 422
    assert "customer_id" in response.text


def test_unknown_decision_is_404(client: TestClient, role_keys: dict[Role, str]) -> None:
    response = client.get("/v1/decisions/nope", headers=auth(role_keys[Role.marketer]))
    assert response.status_code == 404


def test_unknown_visitor_still_gets_content(
    client: TestClient, role_keys: dict[Role, str], demo_store: BrandStore
) -> None:
    _runtime(client, demo_store)
    body = _decide(client, role_keys[Role.service], "home_hero", customer="anon-1")
    assert body["action_id"] == "banner_home_hero"
    assert body["content"]["headline"] and body["content"]["cta_url"].startswith("https://")
