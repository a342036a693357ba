"""core.secrets: files in data_dir that are private from the first byte and never half-written."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from core.secrets import persistent_secret, write_private


def test_racing_creators_share_the_first_secret(tmp_path: Path) -> None:
    path = tmp_path / "var" / "audit-key"
    got: list[str] = []
    threads = [
        threading.Thread(target=lambda n=n: got.append(persistent_secret(path, f"key-{n}")))
        for n in range(12)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(got)) == 1 and path.read_text() == got[0]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert persistent_secret(path, "another") == got[0]  # kept across restarts


def test_empty_secret_file_is_an_error_not_a_new_secret(tmp_path: Path) -> None:
    path = tmp_path / "audit-key"
    path.write_text("")
    with pytest.raises(RuntimeError, match="empty"):
        persistent_secret(path, "new")


def test_write_private_replaces_a_world_readable_file_with_a_private_one(tmp_path: Path) -> None:
    path = tmp_path / "demo-keys.json"
    path.write_text("old")
    os.chmod(path, 0o644)
    write_private(path, '{"admin": "k"}')
    assert path.read_text() == '{"admin": "k"}'
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["demo-keys.json"]  # no temp file left
