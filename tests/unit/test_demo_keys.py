"""The demo's key file: private from its first byte, reused, and a revoked key replaced."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from cli.serve import demo_keys
from core.db import session_scope
from core.keys import Role, find_key, revoke_key
from core.settings import Settings


def test_demo_key_file_is_never_readable_by_others(
    sqlite_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    settings = Settings(data_dir=data_dir, environment="test")
    path = data_dir / "demo-keys.json"
    modes_seen: list[int] = []
    real_chmod = os.chmod

    def spying_chmod(target: Any, mode: int, *args: Any, **kwargs: Any) -> None:
        if Path(target) == path:  # what the file allowed until this moment
            modes_seen.append(stat.S_IMODE(path.stat().st_mode))
        real_chmod(target, mode, *args, **kwargs)

    monkeypatch.setattr(os, "chmod", spying_chmod)
    old_umask = os.umask(0o022)
    try:
        keys = demo_keys(settings, sqlite_engine)
    finally:
        os.umask(old_umask)
    assert all(mode == 0o600 for mode in modes_seen), [oct(m) for m in modes_seen]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == keys and set(keys) == {r.value for r in Role}
    assert [p.name for p in data_dir.iterdir()] == ["demo-keys.json"]


def test_demo_keys_are_reused_and_a_revoked_one_replaced(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path, environment="test")
    first = demo_keys(settings, sqlite_engine)
    with session_scope(sqlite_engine) as session:
        row = find_key(session, first["reviewer"])
        assert row is not None
        revoke_key(session, row.id, actor="test")
    second = demo_keys(settings, sqlite_engine)
    assert second["admin"] == first["admin"]
    assert second["reviewer"] != first["reviewer"]
    with session_scope(sqlite_engine) as session:
        assert find_key(session, second["reviewer"]) is not None
