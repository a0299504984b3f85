"""Online access help: a reset link, a username reminder, and Robert's lock lifted."""
from __future__ import annotations

from sqlalchemy import delete, select

from actions.online_access import (
    ActionLoginHelp, ActionSendPasswordReset, ActionSendRegistrationLink, ActionSendUsername,
)
from autofinance.adapters.notify import readable_body
from autofinance.bootstrap import Container
from autofinance.services import fraud
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
        bodies = " ".join(readable_body(message, store.settings.secret_pepper) or ""
                          for message in uow.session.scalars(select(OutboxMessage)))
    assert "/reset-password?token=" in bodies and "mlopez" in bodies


async def test_after_a_fraud_report_i_cant_log_in_gets_the_fraud_team_not_an_unlock(store: Container) -> None:
    """Robert's lock is now the fraud team's: chat explains, offers a person, changes nothing."""
    verified = verify(store, "robert-chat", "7301009912", "77002")
    fraud.report_fraud("robert-chat", "a payment I didn't make", "today", verified.customer_id,
                       True, store.uow())
    with store.uow() as uow:
        sent_before = set(uow.session.scalars(select(OutboxMessage.id)))
    for action in (ActionLoginHelp(), ActionSendPasswordReset()):
        events, messages = await run(action, make_tracker("robert-chat", {"verified": True}))
        assert "fraud team will contact you" in texts(messages) and "unlocked it" not in texts(messages)
        assert messages[0]["buttons"] == [{"title": "Talk to a person", "payload": "/human_handoff"}]
        assert events == []
    with store.uow() as uow:
        assert uow.session.scalar(select(OnlineCredential.locked).where(OnlineCredential.username == "rokafor"))
        assert set(uow.session.scalars(select(OutboxMessage.id))) == sent_before


async def test_a_reset_asked_for_while_locked_out_unlocks_too(store: Container) -> None:
    from actions.online_access import ActionSendPasswordReset  # noqa: PLC0415

    verify(store, "robert-chat", "7301009912", "77002")
    _, messages = await run(ActionSendPasswordReset(), make_tracker("robert-chat", {"verified": True},
                                                                    intent="reset_password"))
    assert "I've unlocked it" in texts(messages) and "password reset link" in texts(messages)


async def test_a_customer_without_online_access_gets_a_registration_link_by_email(store: Container) -> None:
    verified = verify(store, "maria-chat")
    with store.uow() as uow:
        uow.session.execute(delete(OnlineCredential).where(OnlineCredential.customer_id == verified.customer_id))
        uow.commit()
    _, messages = await run(ActionSendPasswordReset(), make_tracker("maria-chat", {"verified": True}))
    assert "set up online access" in texts(messages)  # a reset is no help: registering is offered
    _, messages = await run(ActionSendRegistrationLink(), make_tracker("maria-chat", {"verified": True}))
    assert [m.get("response") for m in messages] == ["utter_registration_link_sent"]
    assert messages[0]["destination"] == "m****@example.com" and messages[0]["minutes"] == 60
    with store.uow() as uow:
        message = uow.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "registration_link")).one()
        assert "/register?token=" not in message.body  # sealed in the outbox
        assert "/register?token=" in (readable_body(message, store.settings.secret_pepper) or "")


async def test_a_registered_customer_asking_to_register_hears_their_masked_username(store: Container) -> None:
    verify(store, "maria-chat")
    _, messages = await run(ActionSendRegistrationLink(), make_tracker("maria-chat", {"verified": True}))
    assert [m.get("response") for m in messages] == ["utter_already_registered"]
    assert messages[0]["username"] == "ml***z" and "mlopez" not in str(messages)
    with store.uow() as uow:
        assert not list(uow.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "registration_link")))


async def test_registering_needs_verification_first(store: Container) -> None:
    events, messages = await run(ActionSendRegistrationLink(), make_tracker("stranger-chat", {}, intent="register_online",
                                                                          text="sign me up for online access"))
    assert "registration" not in texts(messages).lower()
    assert any(e.get("name") == "identity_form" for e in events if e["event"] == "followup")
    with store.uow() as uow:
        assert not list(uow.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "registration_link")))
