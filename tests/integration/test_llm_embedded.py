"""The embedded SmolLM2 model in-process: real llama.cpp, no network, kept short."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from brand.creative import write_creative
from brand.store import BrandStore
from core.domain import ProfileView
from core.llm import LlmClient, get_chat_model, get_llm_client
from core.llm_local import EMBEDDED_MODEL_NAME, ChatLlamaCpp, model_path
from core.settings import Settings

pytestmark = pytest.mark.llm
ROOT = Path(__file__).resolve().parents[2]


class Colour(BaseModel):
    name: str = Field(max_length=40)
    warm: bool


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "var", environment="test")


def test_model_file_ships_in_the_installed_package() -> None:
    path = model_path()
    assert path.is_file() and path.stat().st_size > 50_000_000


def test_structured_output_is_schema_valid(settings: Settings) -> None:
    client = get_llm_client(settings)
    assert client.model_name == EMBEDDED_MODEL_NAME
    colour = client.structured("Name a warm colour.", Colour, max_tokens=40)
    assert isinstance(colour, Colour) and colour.name
    assert client.usage.calls == 1 and client.usage.completion_tokens > 0


def test_chat_model_binds_tools_and_answers(settings: Settings) -> None:
    from langchain_core.tools import tool

    @tool
    def pause_channel(channel: str) -> str:
        """Pause all sends on one channel: email, sms or push."""
        return channel

    model = get_chat_model(settings)
    assert isinstance(model, ChatLlamaCpp)
    reply = model.bind_tools([pause_channel]).invoke("Pause the sms channel.", max_tokens=40)
    if reply.tool_calls:  # a 135M model may also answer in words; both are valid shapes
        assert reply.tool_calls[0]["name"] == "pause_channel"
        assert set(reply.tool_calls[0]["args"]) == {"channel"}
    else:
        assert isinstance(reply.content, str)
    assert reply.usage_metadata and reply.usage_metadata["output_tokens"] > 0


def test_creative_with_the_real_model_is_on_brand(settings: Settings) -> None:
    store = BrandStore.open(settings)
    store.ingest(ROOT / "examples" / "brand")
    creative = write_creative(
        store=store,
        llm=LlmClient.from_settings(settings),
        profile=ProfileView(customer_id="c-1", traits={"first_name": "Ada"}),
        action_id="winback_lapsed",
        channel="sms",
        offer={"offer_id": "winback-15"},
    )
    assert creative.source in {"llm", "revised", "fallback"}
    assert creative.conformance_score >= store.kit.rules.conformance_threshold
    assert len(creative.content["text"]) <= 160
    assert "RIDEAGAIN15" in creative.content["text"]
