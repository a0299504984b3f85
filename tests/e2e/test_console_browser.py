"""The agent's side of a hand-off, done in the console page in headless Chromium.

Playwright drives Debian's /usr/bin/chromium (`make test` installs it when it can); no browser
is downloaded. The customer is a socket.io widget client, as in the API test.
"""
from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import AsyncIterator

import pytest

from autofinance.demo.seed import DEMO_AGENT
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, NO_CHROMIUM, RunningStack, demo_agent_code
from tests.e2e.widget import Widget, widget_origin

pytestmark = pytest.mark.e2e


if not CHROMIUM.exists():
    pytest.skip(NO_CHROMIUM, allow_module_level=True)

from playwright.async_api import Dialog, Page, async_playwright, expect  # noqa: E402


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[Page]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                                   args=CHROMIUM_ARGS)
        context = await browser.new_context()
        page = await context.new_page()
        yield page
        await browser.close()


async def test_an_agent_signs_in_claims_replies_and_resolves_in_the_browser(
    embedded_stack: RunningStack, page: Page,
) -> None:
    widget = Widget(embedded_stack, widget_origin(embedded_stack))
    await widget.open()
    try:
        await widget.say("hi")
        asked = await widget.say("get me a human please <b>now</b>")
        number = re.search(r"ticket (HT[0-9A-F]+)", asked).group(1)

        console = embedded_stack.url("web", "/console")
        await page.goto(console)
        await expect(page).to_have_url(re.compile(r"/console/sign-in$"))  # not signed in yet
        await page.fill("#username", DEMO_AGENT["username"])
        await page.fill("#password", "wrong password!")
        await page.fill("#code", "000000")
        await page.click("button[type=submit]")
        await expect(page.locator("body")).to_contain_text("don't match")
        await page.fill("#password", DEMO_AGENT["password"])
        await page.fill("#code", demo_agent_code())
        await page.click("button[type=submit]")
        await expect(page).to_have_url(re.compile(r"/console$"))

        ticket = page.locator(f'button.open-ticket[data-ticket="{number}"]')
        await expect(ticket).to_be_visible()
        await ticket.click()
        await expect(page.locator("#detail-title")).to_have_text(f"Ticket {number}")
        await page.click("#claim")
        await expect(page.locator("#status")).to_contain_text("claimed", ignore_case=True)

        # The customer's earlier message shows as text, not as markup.
        transcript = page.locator("#transcript")
        await expect(transcript).to_contain_text("get me a human please <b>now</b>")
        assert await transcript.locator("b").count() == 0

        await widget.send("are you there?")
        await expect(transcript).to_contain_text("are you there?", timeout=15_000)

        await page.fill("#reply-text", "Yes, I'm here. How can I help?")
        await page.click("#reply-form button[type=submit]")
        assert "How can I help?" in await widget.next_reply()

        async def accept(dialog: Dialog) -> None:  # "Resolve this ticket and hand ... back?"
            await dialog.accept()
        page.once("dialog", accept)
        await page.click("#resolve")
        assert "anything else I can help with" in await widget.next_reply()
        await expect(page.locator(f'button.open-ticket[data-ticket="{number}"]')).to_have_count(0)
        # the assistant is back: an anonymous customer is asked to verify before any balance
        assert "account number" in await widget.say("what's my balance")
        await page.click("text=Sign out")  # so later tests find nobody on line
        await expect(page).to_have_url(re.compile(r"/console/sign-in$"))
    finally:
        await widget.close()
        await asyncio.sleep(0)
