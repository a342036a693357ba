"""`cjo chat` answers in the terminal, remembers a conversation, and asks before acting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlmodel import Session

from core import controls
from core.db import make_engine, migrate
from tests.chat.conftest import seed

ROOT = Path(__file__).resolve().parents[2]


def _chat(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CJO_DATA_DIR": str(data_dir), "COLUMNS": "200"}
    env.pop("CJO_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "chat", "--no-llm", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def _world(tmp_path: Path) -> Path:
    engine = make_engine(f"sqlite:///{tmp_path / 'cjo.db'}")
    migrate(engine)
    seed(engine)
    engine.dispose()
    return tmp_path


def test_one_shot_question_prints_the_answer(tmp_path: Path) -> None:
    done = _chat(_world(tmp_path), "-m", "why did customer 1042 get the 15% offer?")
    assert done.returncode == 0, done.stderr
    assert "explain_decision" in done.stdout and "winback_email_15" in done.stdout


def test_pause_everything_is_not_done_without_yes(tmp_path: Path) -> None:
    data = _world(tmp_path)
    refused = _chat(data, "-m", "pause everything")
    assert "not confirmed" in refused.stderr
    engine = make_engine(f"sqlite:///{data / 'cjo.db'}")
    with Session(engine) as s:
        assert controls.active_pauses(s) == []
    confirmed = _chat(data, "-m", "pause everything", "--yes")
    assert "Paused all sending" in confirmed.stdout
    with Session(engine) as s:
        assert controls.is_paused(s, channel="sms")
    engine.dispose()
