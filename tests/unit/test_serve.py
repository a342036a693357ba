"""`cjo serve`: command-line overrides go through the same insecure-settings check as CJO_*."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli import serve
from cli.main import app as cjo
from core.settings import get_settings


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    monkeypatch.setenv("CJO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CJO_ADMIN_KEY", "cjo-dev-admin")
    monkeypatch.delenv("CJO_HOST", raising=False)
    monkeypatch.delenv("CJO_DATABASE_URL", raising=False)
    started: list[dict[str, Any]] = []
    monkeypatch.setattr(serve, "open_engine", lambda s: started.append({"settings": s}))
    get_settings.cache_clear()
    yield started
    get_settings.cache_clear()


def test_host_flag_with_a_dev_admin_key_is_refused(env: list[dict[str, Any]]) -> None:
    result = CliRunner().invoke(cjo, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "refusing to start" in result.output and "CJO_ADMIN_KEY" in result.output
    assert env == []  # nothing was opened or bound


def test_overrides_reach_the_settings_the_app_is_built_with(env: list[dict[str, Any]]) -> None:
    settings = serve.settings_for_serving("127.0.0.2", 8123)
    assert (settings.host, settings.port) == ("127.0.0.2", 8123)
    assert serve.settings_for_serving(None, None).host == "127.0.0.1"
