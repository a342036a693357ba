"""Without Chromium, browser tests skip on a dev machine and fail in CI (no silent pass)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.conftest import REQUIRE_BROWSER, chromium_executable


def test_missing_chromium_fails_when_the_browser_is_required(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(REQUIRE_BROWSER, "1")
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y chromium"):
        chromium_executable(tmp_path / "no-chromium")


def test_missing_chromium_skips_with_the_install_hint_otherwise(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(REQUIRE_BROWSER, raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y chromium"):
        chromium_executable(tmp_path / "no-chromium")
    monkeypatch.setenv(REQUIRE_BROWSER, "0")
    with pytest.raises(pytest.skip.Exception):
        chromium_executable(tmp_path / "no-chromium")


def test_an_installed_chromium_is_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(REQUIRE_BROWSER, "1")
    binary = tmp_path / "chromium"
    binary.write_text("#!/bin/sh\n")
    assert chromium_executable(binary) == binary
