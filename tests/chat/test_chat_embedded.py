"""Done-when: `cjo chat` answers the issue's five example requests on the embedded default,
offline (SmolLM2 via llama.cpp, MiniLM router, the demo catalog and brand kit)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import Session, select

from brand.store import BrandStore
from core.db import make_engine, migrate
from core.settings import Settings
from core.tables import Control, Journey
from evals.suites.chat import BRAND_KIT, seed_world

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.llm, pytest.mark.slow]


def _chat(data_dir: Path, message: str) -> str:
    env = {**os.environ, "CJO_DATA_DIR": str(data_dir), "COLUMNS": "200"}
    for name in ("CJO_DATABASE_URL", "CJO_LLM_BASE_URL", "CJO_LLM_MODEL", "CJO_LLM_API_KEY"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "chat", "-m", message],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.timeout(900)  # five CLI processes, each loading the model: a hang guard, not a target
def test_the_five_issue_requests_on_the_embedded_model(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'cjo.db'}")
    migrate(engine)
    seed_world(engine)
    BrandStore.open(Settings(data_dir=tmp_path)).ingest(BRAND_KIT)

    out = _chat(tmp_path, "how many customers are at risk of churning this week?")
    assert "count_customers(segment='at_risk')" in out and "2 customers" in out

    out = _chat(tmp_path, "why did customer 1042 get the 15% offer?")
    assert "winback_email_15" in out and "Highest expected value" in out

    out = _chat(tmp_path, "pause all SMS")
    assert "Paused channel sms" in out

    out = _chat(
        tmp_path, "draft a win-back journey for lapsed VIPs with a CSM call for the top tier"
    )
    assert "saved as a proposal" in out and "csm_outreach" in out

    out = _chat(tmp_path, "show me the creative for the cart reminder")
    assert "Preview of cart_reminder_email" in out and "not sent" in out

    with Session(engine) as s:
        paused = s.exec(select(Control).where(Control.paused == True)).all()  # noqa: E712
        drafts = s.exec(select(Journey).where(Journey.status == "proposed")).all()
    assert [(c.scope, c.target) for c in paused] == [("channel", "sms")]
    assert any(d.slug.startswith("win-back") for d in drafts)
    engine.dispose()
