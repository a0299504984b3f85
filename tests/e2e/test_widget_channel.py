"""The widget's socket.io channel as a browser uses it: replies reach the page (the room fix),
a portal token signs the customer in, a bad token or a foreign origin is refused."""
from __future__ import annotations

import pytest
import socketio

from autofinance.config import Settings
from autofinance.adapters.portal_tokens import issue_token
from tests.e2e.conftest import RunningStack
from tests.e2e.widget import Widget, customer_id, widget_origin

pytestmark = pytest.mark.e2e


@pytest.fixture
def running(embedded_stack: RunningStack) -> RunningStack:
    return embedded_stack


async def test_an_anonymous_visitor_hears_the_assistant_and_is_asked_to_verify(running: RunningStack) -> None:
    widget = Widget(running, widget_origin(running))
    session = await widget.open(session_id="portal-1")  # a visitor cannot pick a portal id
    assert not session.startswith("portal-")
    reply = await widget.say("what's my balance", metadata={"portal_token": "x", "customer_id": 1})
    assert "account number" in reply.lower() and "$" not in reply
    await widget.close()


async def test_a_signed_in_customer_is_greeted_and_sees_the_balance_without_a_code(running: RunningStack) -> None:
    maria = customer_id(running, "7301004821")
    token = issue_token(maria, "Maria", Settings.from_env(running.env))
    widget = Widget(running, widget_origin(running))
    assert await widget.open(token=token) == f"portal-{maria}"
    reply = await widget.say("what's my balance")
    assert "Hi Maria" in reply and "$18,420.55" in reply
    await widget.close()


async def test_a_bad_token_or_a_foreign_origin_cannot_connect(running: RunningStack) -> None:
    for widget, token in ((Widget(running, widget_origin(running)), "not-a-valid-token"),
                          (Widget(running, "http://evil.example"), None)):
        with pytest.raises(socketio.exceptions.ConnectionError):
            await widget.open(token=token)
        await widget.close()
