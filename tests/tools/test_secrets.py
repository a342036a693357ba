"""Secrets kept in data_dir: private, whole, and the same for every racing process."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

from tools.channels.registry import _persistent_secret


def test_racing_writers_all_get_the_one_secret_and_it_is_private(tmp_path: Path) -> None:
    path = tmp_path / "var" / "unsubscribe-secret"
    got: list[str] = []
    threads = [
        threading.Thread(target=lambda n=n: got.append(_persistent_secret(path, f"secret-{n}")))
        for n in range(16)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(got)) == 1 and got[0].startswith("secret-")
    assert path.read_text() == got[0]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["unsubscribe-secret"]
