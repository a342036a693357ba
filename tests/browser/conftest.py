"""A live cjo server on a free loopback port and Debian's Chromium driven by Playwright.

One server per module (seeded SQLite in a temp dir); a fresh browser context per test.
Screenshots go to test-artifacts/screenshots/ (gitignored), for people to look at.
Without Chromium the tests skip with the install hint, except under CJO_REQUIRE_BROWSER=1
(CI), where they fail: a green run there has really driven the browser.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest
import uvicorn
from sqlalchemy.engine import Engine

from core.db import make_engine, migrate
from core.settings import Settings
from tests.browser.seed import Scene, seed

CHROMIUM = Path("/usr/bin/chromium")
REQUIRE_BROWSER = "CJO_REQUIRE_BROWSER"
INSTALL_HINT = "Chromium is not installed: apt-get install -y chromium (.ci/run does this)"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class LiveServer:
    url: str
    engine: Engine
    scene: Scene


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    from api.app import create_app

    data_dir = tmp_path_factory.mktemp("console")
    engine = make_engine(f"sqlite:///{data_dir / 'cjo.db'}")
    migrate(engine)
    scene = seed(engine)
    settings = Settings(data_dir=data_dir / "var", environment="test", log_level="WARNING")
    app = create_app(settings, engine=engine, run_migrations=False)
    app.state.chat_llm = None  # chat panel tests: router and rules (the model: tests/chat)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the cjo server did not start")
        time.sleep(0.05)
    yield LiveServer(f"http://127.0.0.1:{port}", engine, scene)
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


def browser_required() -> bool:
    """CI sets CJO_REQUIRE_BROWSER=1 so that a missing browser is a failure, not a skip."""
    return os.environ.get(REQUIRE_BROWSER, "").strip().lower() in {"1", "true", "yes"}


def browser_missing(why: str) -> NoReturn:
    """Skip the browser tests with `why`, or fail them when the browser is required."""
    if browser_required():
        pytest.fail(f"{why}; {REQUIRE_BROWSER}=1 requires the browser tests to run", pytrace=False)
    pytest.skip(why)


def chromium_executable(path: Path = CHROMIUM) -> Path:
    """The Chromium binary the tests drive; skip (or fail, see above) when it is missing."""
    if not path.exists():
        browser_missing(f"{INSTALL_HINT} [{path} not found]")
    return path


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    executable = chromium_executable()
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(executable),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1366, "height": 900},
        )
        yield context
        context.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh tab with no cookies, failing the test on any JavaScript error."""
    browser.clear_cookies()
    tab = browser.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.set_default_timeout(10_000)
    yield tab
    tab.close()
    assert errors == [], f"JavaScript errors: {errors}"


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def screenshot_of(part: Any, name: str) -> None:
    """One element, scrolled into view (a full-page shot leaves off-screen iframes blank)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    part.scroll_into_view_if_needed()
    part.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def login(page: Any, server: LiveServer, key: str) -> None:
    page.goto(f"{server.url}/")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("domcontentloaded")
