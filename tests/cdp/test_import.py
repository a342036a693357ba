"""`cjo import PATH` (JSONL, CSV) and `cjo import --dataset cdnow --synthetic-contacts`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from cdp.datasets import synthetic_contact
from cdp.profiles import get_profile_view
from cli.main import app
from core.db import make_engine


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    from core.settings import get_settings

    monkeypatch.setenv("CJO_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("CJO_DATABASE_URL", raising=False)
    monkeypatch.delenv("CJO_STREAM_URL", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def _view(env: Path, any_id: str) -> Any:
    engine = make_engine(f"sqlite:///{env / 'var' / 'cjo.db'}")
    with Session(engine) as session:
        view = get_profile_view(session, any_id)
    engine.dispose()
    return view


def test_jsonl_import_names_bad_lines_and_stores_good_ones(env: Path) -> None:
    path = env / "events.jsonl"
    lines = [
        {
            "userId": "j1",
            "event": "Order Completed",
            "messageId": "j-1",
            "properties": {"revenue": 3},
        },
        {"userId": "j1", "messageId": "j-2", "type": "track"},
        {"userId": "j1", "traits": {"email": "j1@example.com"}, "messageId": "j-3"},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n")
    result = CliRunner().invoke(app, ["import", str(path), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["accepted"] == 2 and summary["invalid"] == 2 and summary["processed"] == 2
    assert any(e.startswith("line 2: event") for e in summary["errors"])
    view = _view(env, "j1@example.com")
    assert view is not None and view.computed["order_value"] == 3.0


def test_csv_import_nests_dotted_columns(env: Path) -> None:
    path = env / "events.csv"
    path.write_text(
        "type,userId,event,messageId,properties.revenue\ntrack,c1,Order Completed,c-1,12.5\n"
    )
    result = CliRunner().invoke(app, ["import", str(path), "--json"])
    assert result.exit_code == 0, result.output
    view = _view(env, "c1")
    assert view is not None and view.computed["order_value"] == 12.5


def test_cdnow_slice_with_synthetic_contacts(env: Path) -> None:
    result = CliRunner().invoke(
        app, ["import", "--dataset", "cdnow", "--limit", "50", "--synthetic-contacts", "--json"]
    )
    assert result.exit_code == 0, result.output
    view = _view(env, "customer3@example.com")
    assert view is not None
    assert view.identities["user_id"] == ["cdnow-00003"]
    assert view.phone == synthetic_contact(3)["phone"]
    assert view.timezone == synthetic_contact(3)["timezone"]
    assert view.consent["email"]["status"] == "subscribed"
    assert view.computed["first_order_at"].startswith("1997-01-02")
    again = CliRunner().invoke(
        app, ["import", "--dataset", "cdnow", "--limit", "50", "--synthetic-contacts", "--json"]
    )
    assert json.loads(again.stdout.strip().splitlines()[-1])["accepted"] == 0


def test_import_to_the_stream_publishes_only_what_the_worker_can_read(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cdp.events import MESSAGE_ADAPTER, Identify
    from core.settings import get_settings

    published: list[dict[str, Any]] = []

    async def fake_publish(url: str, messages: Any, names: Any = None) -> int:
        assert not isinstance(messages, list), "the file is streamed, not loaded whole"
        published.extend(messages)
        return len(published)

    monkeypatch.setattr("cdp.stream.publish", fake_publish)
    monkeypatch.setenv("CJO_STREAM_URL", "nats://127.0.0.1:4222")
    get_settings.cache_clear()
    path = env / "events.jsonl"
    lines = [
        {"userId": "s1", "event": "Order Completed", "messageId": "s-1"},  # no type: track
        {"userId": "s1", "messageId": "s-2", "type": "track"},  # no event
        {"userId": "s1", "traits": {"plan": "pro"}},  # no type, no messageId: identify
        {"event": "Page Viewed", "messageId": "s-4"},  # no userId/anonymousId
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n")
    result = CliRunner().invoke(app, ["import", str(path), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["read"] == 5 and summary["published"] == 2 and summary["invalid"] == 3
    errors = summary["errors"]
    assert errors[0].startswith("line 2: event: Field required")
    assert errors[1].startswith("line 4: ") and "userId or anonymousId" in errors[1]
    assert errors[2].startswith("line 5: not JSON")
    parsed = [MESSAGE_ADAPTER.validate_python(m) for m in published]
    assert [m.type for m in parsed] == ["track", "identify"]
    assert parsed[0].message_id == "s-1" and parsed[1].message_id  # one given for redelivery
    assert isinstance(parsed[1], Identify) and parsed[1].traits == {"plan": "pro"}


def test_import_to_the_stream_fails_when_no_record_is_valid(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.settings import get_settings

    async def fake_publish(url: str, messages: Any, names: Any = None) -> int:
        return len(list(messages))

    monkeypatch.setattr("cdp.stream.publish", fake_publish)
    monkeypatch.setenv("CJO_STREAM_URL", "nats://127.0.0.1:4222")
    get_settings.cache_clear()
    path = env / "events.jsonl"
    path.write_text('{"type": "track", "userId": "x"}\n')
    result = CliRunner().invoke(app, ["import", str(path), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout.strip().splitlines()[-1])["published"] == 0
