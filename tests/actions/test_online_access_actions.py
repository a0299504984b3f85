"""Online access help: a reset link, a username reminder, and Robert's lock lifted."""
from __future__ import annotations

from sqlalchemy import select

from actions.online_access import ActionLoginHelp, ActionSendPasswordReset, ActionSendUsername
from autofinance.bootstrap import Container
from autofinance.adapters.store.models import OnlineCredential, OutboxMessage
from tests.actions.conftest import make_tracker, run, texts, verify


async def test_robert_s_locked_access_is_explained_unlocked_and_a_reset_link_sent(store: Container) -> None:
    verify(store, "robert-chat", "7301009912", "77002")
    _, messages = await run(ActionLoginHelp(), make_tracker("robert-chat", {"verified": True}))
    assert "locked after 5 failed sign-ins" in texts(messages) and "unlocked" in texts(messages)
    with store.uow() as uow:
        assert uow.session.scalar(select(OnlineCredential.locked).where(OnlineCredential.username == "rokafor")) is False
        kinds = set(uow.session.scalars(select(OutboxMessage.kind)))
    assert {"password_reset", "online_access_unlocked"} <= kinds


async def test_a_reset_link_and_the_username_go_to_the_email_on_file_never_into_the_chat(store: Container) -> None:
    verify(store, "maria-chat")
    tracker = make_tracker("maria-chat", {"verified": True})
    _, reset = await run(ActionSendPasswordReset(), tracker)
    _, username = await run(ActionSendUsername(), tracker)
    assert "m****@example.com" in texts(reset) and "reset-password" not in texts(reset)
    assert "mlopez" not in texts(username)
    with store.uow() as uow:
        bodies = " ".join(uow.session.scalars(select(OutboxMessage.body)))
    assert "/reset-password?token=" in bodies and "mlopez" in bodies
