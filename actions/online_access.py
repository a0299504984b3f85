"""Online access in conversation: a reset link, a username reminder, unlocking a locked login,
registering for the website.

The assistant never asks for a password: it sends a single-use link to the email on file.
A lock from a fraud report is the fraud team's: the customer hears why and is offered a person.
"""
from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.answers import AnswerAction
from actions.runtime import call, container
from autofinance.services import identity, online_access, online_registration
from autofinance.services.errors import AlreadyRegistered, OnlineAccessHeld

TALK_TO_A_PERSON = [{"title": "Talk to a person", "payload": "/human_handoff"}]


def _held(dispatcher: CollectingDispatcher, held: OnlineAccessHeld) -> list[EventType]:
    """Nothing was changed or sent: say so, and offer a person rather than a way around it."""
    dispatcher.utter_message(text=held.message, buttons=TALK_TO_A_PERSON)
    return []


def _unlocked_text(status: online_access.AccessStatus, sent: online_access.ResetLinkSent) -> str:
    return (f"Your online access was locked after {status.failed_sign_ins} failed sign-ins. I've "
            f"unlocked it, and emailed a password reset link to {sent.destination_masked} in case you "
            "don't remember your password (it expires in 30 minutes).")


class ActionSendPasswordReset(AnswerAction):
    required_level = "full"

    def name(self) -> str:
        return "action_send_password_reset"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        settings = container().settings
        try:
            status = await call(online_access.access_status, customer.customer_id, container().uow())
            if status.locked:  # locked out too: the lock is lifted as well (login help's way back in)
                helped = await call(online_access.help_with_sign_in, customer.customer_id,
                                    container().uow(), settings.public_base_url, settings.secret_pepper)
                if helped.reset is not None:
                    dispatcher.utter_message(text=_unlocked_text(helped.status, helped.reset))
                    return []
            sent = await call(online_access.send_password_reset, customer.customer_id,
                              container().uow(), settings.public_base_url, settings.secret_pepper)
        except OnlineAccessHeld as held:
            return _held(dispatcher, held)
        dispatcher.utter_message(
            text=f"I've emailed a password reset link to {sent.destination_masked}. It works once and "
            f"expires in {sent.expires_in_minutes} minutes. Setting a new password also unlocks your "
            "online access. I'll never ask you for your password here."
        )
        return []


class ActionSendUsername(AnswerAction):
    required_level = "full"

    def name(self) -> str:
        return "action_send_username"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        sent = await call(online_access.send_username_reminder, customer.customer_id, container().uow())
        dispatcher.utter_message(text=f"I've emailed your username to {sent.destination_masked}.")
        return []


class ActionLoginHelp(AnswerAction):
    """Explains why sign-in fails; a lock after failed sign-ins is lifted, with a reset link,
    a fraud report's lock is not."""

    required_level = "full"

    def name(self) -> str:
        return "action_login_help"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        settings = container().settings
        try:
            helped = await call(online_access.help_with_sign_in, customer.customer_id,
                                container().uow(), settings.public_base_url, settings.secret_pepper)
        except OnlineAccessHeld as held:
            return _held(dispatcher, held)
        status, sent = helped.status, helped.reset
        if sent is None:
            dispatcher.utter_message(
                text=f"Your online access ({status.username_masked}) isn't locked. If you've forgotten "
                "your password I can email you a reset link.",
                buttons=[{"title": "Send me a reset link", "payload": "/reset_password"},
                         {"title": "Send me my username", "payload": "/forgot_username"}])
            return []
        dispatcher.utter_message(text=_unlocked_text(status, sent))
        return []


class ActionSendRegistrationLink(AnswerAction):
    """Registering for the website: a single-use link to the email on file, where the customer
    chooses a username and password (never typed here). Already registered: the masked username,
    and the reset link or username reminder offered instead."""

    required_level = "full"

    def name(self) -> str:
        return "action_send_registration_link"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                     domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        settings = container().settings
        try:
            sent = await call(online_registration.send_registration_link, customer.customer_id,
                              container().uow(), settings.public_base_url, settings.secret_pepper)
        except AlreadyRegistered as registered:
            dispatcher.utter_message(response="utter_already_registered", username=registered.username_masked)
            return []
        except OnlineAccessHeld as held:
            return _held(dispatcher, held)
        dispatcher.utter_message(response="utter_registration_link_sent", destination=sent.destination_masked,
                                 minutes=sent.expires_in_minutes)
        return []
