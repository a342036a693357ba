"""`cjo brand ingest` as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _cjo(args: list[str], data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CJO_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=180,
    )


def test_ingest_demo_kit_then_version(tmp_path: Path) -> None:
    done = _cjo(["brand", "ingest", "examples/brand"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Kestrel Cycle Co." in done.stdout
    version = _cjo(["brand", "version"], tmp_path)
    assert version.returncode == 0 and version.stdout.strip().startswith("1.0.0+")
    assert (tmp_path / "brand" / "chroma").is_dir()


def test_ingest_of_a_folder_without_a_kit_fails_naming_the_file(tmp_path: Path) -> None:
    done = _cjo(["brand", "ingest", str(tmp_path)], tmp_path / "var")
    assert done.returncode == 1
    assert "brand.yaml" in done.stderr
