"""The portal page's chat widget in headless Chromium, against the real services.

A customer opens the demo portal page, opens the widget and talks to the assistant through
Rasa's socket.io channel: anonymously (verifies by code, pays, asks for a person whom the demo
agent answers from the console in a second browser), signed in through the demo "Sign in as"
(greeted by name, no code), and across a reload and a dropped connection. Screenshots of the key
steps go to reports/screenshots/.

Playwright drives Debian's /usr/bin/chromium (`make test` installs it when it can); no browser
is downloaded. The page is opened on localhost, the origin the socket.io channel allows.
"""
from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.request
from typing import AsyncIterator

import pytest

from autofinance.config import PROJECT_ROOT
from autofinance.demo.seed import DEMO_AGENT
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, NO_CHROMIUM, RunningStack, demo_agent_code
from tests.e2e.widget import customer_id

pytestmark = pytest.mark.e2e

SCREENSHOTS = PROJECT_ROOT / "reports" / "screenshots"
MARIA_ACCOUNT, MARIA_EMAIL = "7301004821", "maria.lopez@example.com"
ANSWER_SECONDS = 60  # the first answers of a fresh Rasa process can be slow on 2 cores

if not CHROMIUM.exists():
    pytest.skip(NO_CHROMIUM, allow_module_level=True)

from playwright.async_api import (  # noqa: E402
    Browser,
    Dialog,
    Page,
    WebSocketRoute,
    async_playwright,
    expect,
)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                                   args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


def portal_url(running: RunningStack) -> str:
    return f"http://localhost:{running.env['WEB_PORT']}/"


async def customer_page(browser: Browser, width: int = 1280,
                        height: int = 860) -> tuple[Page, list[str]]:
    """A page in a browser context of its own, and the script errors it logs (a CSP violation,
    a failed asset or an exception in the widget would show there)."""
    context = await browser.new_context(viewport={"width": width, "height": height})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    return page, errors


async def shot(page: Page, name: str, full_page: bool = False) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"widget-{name}.png"), full_page=full_page)


async def bot_texts(page: Page) -> list[str]:
    return await page.locator("#meridian-chat .mc-bot .mc-text").all_inner_texts()


async def answer(page: Page, before: int, expected: str, settle: float = 1.0) -> str:
    """The assistant's messages after the first `before`, once one contains `expected` and no
    more arrive for `settle` seconds (a turn may be several messages)."""
    deadline = time.monotonic() + ANSWER_SECONDS
    while True:
        texts = (await bot_texts(page))[before:]
        if any(expected in text for text in texts):
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"the assistant never said {expected!r}; it said {texts!r}")
        await asyncio.sleep(0.2)
    while True:
        await asyncio.sleep(settle)
        later = (await bot_texts(page))[before:]
        if later == texts:
            return "\n".join(texts)
        texts = later


async def say(page: Page, text: str, expected: str) -> str:
    """Types a message, sends it with Enter, and waits for the answer that contains `expected`."""
    before = len(await bot_texts(page))
    await page.fill("#mc-input", text)
    await page.press("#mc-input", "Enter")
    await expect(page.locator("#meridian-chat .mc-user").last).to_have_text(f"You: {text}")
    return await answer(page, before, expected)


async def choose(page: Page, title: str, expected: str) -> str:
    """Clicks a quick reply: its title shows as the customer's message, its payload is sent."""
    before = len(await bot_texts(page))
    button = page.locator("#meridian-chat .mc-reply", has_text=title)
    await expect(button).to_have_count(1)
    shown = (await button.inner_text()).strip()
    await button.click()
    await expect(page.locator("#meridian-chat .mc-user").last).to_have_text(f"You: {shown}")
    await expect(page.locator("#meridian-chat .mc-reply", has_text=title)).to_have_count(0)
    return await answer(page, before, expected)


async def open_widget(page: Page) -> None:
    launcher = page.locator("#meridian-chat .mc-launcher")
    await expect(launcher).to_have_attribute("aria-expanded", "false")
    await launcher.click()
    await expect(page.locator("#mc-panel")).to_be_visible()
    await expect(launcher).to_have_attribute("aria-expanded", "true")
    await expect(page.locator("#mc-input")).to_be_focused()


def restart_conversation(running: RunningStack, conversation: str) -> None:
    """A fresh session for a portal conversation on this shared stack: other tests talk as the
    same customer, and the greeting comes at a session's first message only.

    Twice: on a conversation Rasa has not seen, the first call starts a session stamped later
    than the restart (Rasa stamps the posted event first), so only the second one counts."""
    url = running.url("rasa", f"/conversations/{conversation}/tracker/events"
                              f"?token={running.env['RASA_API_TOKEN']}")
    for _ in range(2):
        request = urllib.request.Request(url, data=json.dumps({"event": "restart"}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200


async def sign_in_agent(page: Page, running: RunningStack) -> None:
    """The demo agent signs in to the console, with a code no other test has used."""
    await page.goto(running.url("web", "/console"))
    await expect(page).to_have_url(re.compile(r"/console/sign-in$"))
    await page.fill("#username", DEMO_AGENT["username"])
    await page.fill("#password", DEMO_AGENT["password"])
    await page.fill("#code", demo_agent_code())
    await page.click("button[type=submit]")
    await expect(page).to_have_url(re.compile(r"/console$"))


async def test_an_anonymous_customer_verifies_pays_and_is_answered_by_a_person(
    embedded_stack: RunningStack, browser: Browser,
) -> None:
    page, errors = await customer_page(browser)
    await page.goto(portal_url(embedded_stack))
    await expect(page.locator("h1")).to_have_text("My Account")
    await expect(page.locator("body")).not_to_contain_text("Signed in as")
    await shot(page, "01-portal-anonymous")

    await open_widget(page)
    assert "account number" in await say(page, "what's my balance?", "account number")
    assert "$" not in "".join(await bot_texts(page))
    await shot(page, "02-asked-to-verify")
    assert "ZIP" in await say(page, MARIA_ACCOUNT, "ZIP")
    where = await say(page, "30309", "Where should I send your verification code")
    assert "m****@example.com" in where and "***-***-0101" in where  # masks are not **bold**
    assert "6-digit code" in await choose(page, "Email", "6-digit code")
    code = embedded_stack.latest_code(MARIA_EMAIL)
    verified = await say(page, code, "$18,420.55")
    assert "you're verified" in verified
    await shot(page, "03-verified-balance")

    await say(page, "I'd like to make a payment", "How much would you like to pay")
    await say(page, "$100", "When should the $100.00 payment be made")
    await say(page, "today", "Which saved account")
    confirm = await choose(page, "6789", "Please confirm")
    assert "$100.00" in confirm
    paid = await choose(page, "Yes, make the payment", "confirmation number")
    number = re.search(r"confirmation number is ([A-Z0-9-]+)", paid)
    assert number, paid
    await shot(page, "04-payment-confirmed")

    asked = await say(page, "I want to talk to a real person", "ticket HT")
    ticket = re.search(r"ticket (HT[0-9A-F]+)", asked).group(1)

    # The agent, in a browser of their own, claims the ticket and answers.
    agent = await (await browser.new_context(viewport={"width": 1280, "height": 860})).new_page()
    await sign_in_agent(agent, embedded_stack)
    row = agent.locator(f'button.open-ticket[data-ticket="{ticket}"]')
    await expect(row).to_be_visible(timeout=15_000)
    await row.click()
    # the detail carries the transcript, read from Rasa: allow a busy machine the time the row gets
    await expect(agent.locator("#detail-title")).to_have_text(f"Ticket {ticket}", timeout=15_000)
    await agent.click("#claim")
    await expect(agent.locator("#status")).to_contain_text("claimed", ignore_case=True)
    await expect(agent.locator("#transcript")).to_contain_text("talk to a real person")

    before = len(await bot_texts(page))
    await agent.fill("#reply-text", "Hi Maria, this is the support team. Your $100 payment is booked.")
    await agent.click("#reply-form button[type=submit]")
    assert "this is the support team" in await answer(page, before, "this is the support team")
    await shot(agent, "05-agent-console", full_page=True)
    await shot(page, "06-agent-reply-in-widget")

    # The agent hands the conversation back (accepting the confirm() dialog).
    async def accept(dialog: Dialog) -> None:
        await dialog.accept()
    agent.once("dialog", accept)
    before = len(await bot_texts(page))
    await agent.click("#resolve")
    assert "anything else I can help with" in await answer(page, before, "anything else")
    assert errors == [], errors


async def test_a_signed_in_customer_is_greeted_by_name_and_needs_no_code(
    embedded_stack: RunningStack, browser: Browser,
) -> None:
    conversation = f"portal-{customer_id(embedded_stack, MARIA_ACCOUNT)}"
    restart_conversation(embedded_stack, conversation)
    try:
        page, errors = await customer_page(browser)
        await page.goto(portal_url(embedded_stack))
        await page.click("button:has-text('Sign in as Maria Lopez')")
        await expect(page.locator("#signed-in-as")).to_have_text("Signed in as Maria Lopez (demo)")
        await open_widget(page)
        reply = await say(page, "what's my balance", "$18,420.55")
        assert "Hi Maria" in reply and "account number" not in reply and "verification code" not in reply
        assert await page.evaluate("JSON.parse(sessionStorage.getItem('meridian-chat')).sessionId") \
            == conversation
        await shot(page, "07-signed-in-greeted")

        # Signing out starts another, anonymous conversation: nothing of Maria's stays on screen.
        await page.click("button:has-text('Sign out')")
        await expect(page.locator("body")).not_to_contain_text("Signed in as")
        await expect(page.locator("#meridian-chat .mc-msg")).to_have_count(0)
        assert errors == [], errors
    finally:
        restart_conversation(embedded_stack, conversation)


async def test_a_signed_in_customer_sees_her_unread_reminders_once(
    embedded_stack: RunningStack, browser: Browser,
) -> None:
    """Priya's reminders (sent by the stack's scheduler as it starts) are listed in the widget,
    with their count on the launcher; once she has opened it they are read."""
    page, errors = await customer_page(browser)
    await page.goto(portal_url(embedded_stack))
    await page.click("button:has-text('Sign in as Priya Nair')")
    launcher = page.locator("#meridian-chat .mc-launcher")
    deadline = time.monotonic() + ANSWER_SECONDS
    while "alerts)" not in await launcher.inner_text():  # the scheduler's first pass
        assert time.monotonic() < deadline, "no alerts listed"
        await asyncio.sleep(1)
        await page.reload()
    await expect(launcher).to_contain_text("(3 alerts)")

    await open_widget(page)
    alerts = page.locator("#meridian-chat .mc-alerts li")
    await expect(alerts).to_have_count(3)
    assert "Your payment was returned by your bank" in await alerts.all_inner_texts()
    await shot(page, "08-signed-in-alerts")
    await page.wait_for_timeout(500)  # the widget tells the portal they were seen
    await page.reload()

    await expect(launcher).not_to_contain_text("alert")
    await expect(page.locator("#meridian-chat .mc-alerts")).to_be_hidden()
    await page.click("button:has-text('Sign out')")
    assert errors == [], errors


async def test_the_conversation_survives_a_reload_and_a_dropped_connection(
    embedded_stack: RunningStack, browser: Browser,
) -> None:
    page, errors = await customer_page(browser, width=375, height=740)  # a phone
    sockets: list[tuple[WebSocketRoute, WebSocketRoute]] = []
    held: list[tuple[WebSocketRoute, str | bytes]] = []
    holding = False

    def through(route: WebSocketRoute) -> None:
        """Every socket goes through the test, which can drop it or hold the assistant's words."""
        server = route.connect_to_server()

        def to_page(message: str | bytes) -> None:
            if holding and "bot_uttered" in str(message):
                held.append((route, message))
            else:
                route.send(message)
        server.on_message(to_page)
        sockets.append((route, server))
    await page.route_web_socket(re.compile(r"/socket\.io/"), through)

    await page.goto(portal_url(embedded_stack))
    await open_widget(page)
    panel = await page.locator("#mc-panel").bounding_box()
    assert panel and panel["width"] <= 375 and panel["x"] >= 0  # the whole panel fits the phone

    # While the answer is on its way, the assistant is shown typing.
    typing = page.locator("#meridian-chat .mc-typing")
    await expect(typing).to_be_hidden()
    holding = True
    await page.fill("#mc-input", "what's my balance")
    await page.press("#mc-input", "Enter")
    await expect(typing).to_be_visible()
    await expect(typing).to_contain_text("The assistant is typing")
    deadline = time.monotonic() + ANSWER_SECONDS
    while not held and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    await shot(page, "08-phone-typing")
    holding = False
    for route, message in held:
        route.send(message)
    await answer(page, 0, "account number")
    await expect(typing).to_be_hidden()
    session = await page.evaluate("JSON.parse(sessionStorage.getItem('meridian-chat')).sessionId")
    await shot(page, "09-phone-before-reload")

    await page.reload()
    await expect(page.locator("#mc-panel")).to_be_visible()  # it stays open, with the history
    await expect(page.locator("#meridian-chat .mc-user")).to_have_text(["You: what's my balance"])
    await expect(page.locator("#meridian-chat .mc-log")).to_contain_text("account number")
    await shot(page, "10-phone-after-reload")
    # the same conversation: the assistant still expects the account number. The widget keeps the
    # server's signed copy `<conversation id>.<issued>.<signature>`, re-signed at each connection,
    # so the conversation id part stays and the rest is renewed.
    assert "ZIP" in await say(page, MARIA_ACCOUNT, "ZIP")
    resumed = await page.evaluate("JSON.parse(sessionStorage.getItem('meridian-chat')).sessionId")
    assert session.startswith("web-") and resumed.split(".")[0] == session.split(".")[0]

    # The connection drops; socket.io reconnects and the widget asks for the same session.
    dropped = len(sockets)
    to_page, to_server = sockets[-1]
    await to_server.close(code=1001, reason="network blip")
    await to_page.close(code=1001, reason="network blip")
    await expect(page.locator("#meridian-chat .mc-status")).to_contain_text("Reconnecting")
    await expect(page.locator("#meridian-chat .mc-status")).to_be_hidden(timeout=15_000)
    assert len(sockets) > dropped

    # Whatever the assistant (or an agent) writes is shown as text: bold, line breaks and http(s)
    # links are built as elements, markup is not. (A message injected into the socket here.)
    tricky = {"text": "See **your statement** at https://meridian-auto.example/docs?id=1.\n"
                      "<img src=x onerror=\"document.title='pwned'\"> javascript:alert(1)",
              "buttons": [{"title": "<b>Yes</b>", "payload": "/affirm"}]}
    sockets[-1][0].send("42" + json.dumps(["bot_uttered", tricky]))
    message = page.locator("#meridian-chat .mc-bot").last
    await expect(message).to_contain_text("<img src=x onerror=")
    await expect(message.locator("strong")).to_have_text("your statement")
    link = message.locator("a")
    await expect(link).to_have_count(1)
    await expect(link).to_have_attribute("href", "https://meridian-auto.example/docs?id=1")
    await expect(link).to_have_attribute("rel", "noopener noreferrer")
    await expect(message.locator("br")).to_have_count(1)
    await expect(message.locator("img, b")).to_have_count(0)
    await expect(message.locator(".mc-reply")).to_have_text("<b>Yes</b>")
    assert await page.title() != "pwned"
    await shot(page, "11-phone-formatting")
    assert "@example.com" in await say(page, "30309", "Where should I send your verification code")

    # Keyboard: Escape closes the panel and gives the focus back to the launcher.
    await page.keyboard.press("Escape")
    await expect(page.locator("#mc-panel")).to_be_hidden()
    launcher = page.locator("#meridian-chat .mc-launcher")
    await expect(launcher).to_be_focused()
    # A message that arrives while the panel is closed (an agent's reply, say) is flagged on it.
    sockets[-1][0].send("42" + json.dumps(["bot_uttered", {"text": "Are you still there?"}]))
    await expect(launcher).to_contain_text("(new message)")
    await launcher.press("Enter")
    await expect(page.locator("#mc-input")).to_be_focused()
    await expect(launcher).not_to_contain_text("(new message)")
    assert errors == [], errors
