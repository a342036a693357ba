"""The console's chat panel, in a real browser: ask, confirm, and see the action taken."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect
from sqlmodel import Session

from core.controls import is_paused, set_paused
from core.db import session_scope
from core.keys import Role
from tests.browser.conftest import LiveServer, login, screenshot

pytestmark = pytest.mark.browser


def test_marketer_pauses_everything_from_the_chat_panel_after_confirming(
    page: Any, live_server: LiveServer
) -> None:
    login(page, live_server, live_server.scene.keys[Role.marketer])
    page.get_by_role("link", name="Chat").click()
    expect(page).to_have_url(f"{live_server.url}/console/chat")
    page.get_by_label("Your message").fill("pause all sending")
    page.get_by_role("button", name="Send").click()
    log = page.locator("#chat-log")
    confirm = log.locator(".chat-confirm")
    expect(confirm).to_be_visible(timeout=30_000)  # destructive: asks first
    with Session(live_server.engine) as session:
        assert not is_paused(session, channel="email")
    confirm.get_by_role("button", name="Yes").click()
    expect(log.locator(".chat-tool", has_text="✓").first).to_be_visible(timeout=30_000)
    screenshot(page, "chat")
    with Session(live_server.engine) as session:
        assert is_paused(session, channel="email")
    with session_scope(live_server.engine) as session:
        set_paused(session, scope="all", paused=False, actor="test")
