"""The `cjo` console script, run as a user would: keys, audit verify, honest stubs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from core.db import make_engine

CJO = [sys.executable, "-m", "cli.main"]
ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CJO_DATA_DIR": str(data_dir)}
    env.pop("CJO_DATABASE_URL", None)
    return subprocess.run(
        [*CJO, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
    )


def test_keys_then_audit_verify_then_tamper(tmp_path: Path) -> None:
    created = _run(["keys", "create", "--role", "marketer"], tmp_path)
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip().startswith("cjo_mar_")
    _run(["keys", "create", "--role", "reviewer"], tmp_path)

    intact = _run(["audit", "verify"], tmp_path)
    assert intact.returncode == 0, intact.stderr
    assert "intact" in intact.stdout and "2 entries" in intact.stdout

    engine = make_engine(f"sqlite:///{tmp_path / 'cjo.db'}")
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_entries SET actor = 'mallory' WHERE seq = 1"))
    engine.dispose()
    broken = _run(["audit", "verify"], tmp_path)
    assert broken.returncode == 1
    assert "seq=1" in broken.stderr and "broken" in broken.stderr


def test_bad_role_is_a_clear_usage_error(tmp_path: Path) -> None:
    result = _run(["keys", "create", "--role", "superuser"], tmp_path)
    assert result.returncode == 2
    assert "superuser" in result.stderr


def test_unknown_eval_suite_lists_available(tmp_path: Path) -> None:
    result = _run(["eval", "no-such-suite"], tmp_path)
    assert result.returncode == 2 and "unknown eval suite" in result.stderr


def test_journeys_load_and_list(tmp_path: Path) -> None:
    loaded = _run(["journeys", "load", str(ROOT / "examples" / "journeys")], tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    assert "winback v1 (active)" in loaded.stdout
    listed = _run(["journeys", "list"], tmp_path)
    assert "cart-abandonment" in listed.stdout and "trial-to-paid" in listed.stdout


def test_a_broken_journey_names_the_field(tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "x.yaml").write_text(
        "slug: x\nversion: 1\nname: X\ntrigger: t\nsteps:\n  - {id: w, kind: wait}\n"
    )
    result = _run(["journeys", "load", str(folder)], tmp_path / "var")
    assert result.returncode == 1
    assert "duration" in result.stderr
