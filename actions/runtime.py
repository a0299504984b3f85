"""What every action shares: the container, running services off the event loop, and the guard.

The guard is the single check of the verification level an action needs. It asks the identity
service (the store), never a slot, so nothing a customer types can make them "verified".
"""
from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from abc import ABC, abstractmethod
from datetime import date, datetime
from typing import Any, Callable, ClassVar, Optional, TypeVar
from zoneinfo import ZoneInfo

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from autofinance.adapters import portal_tokens
from autofinance.bootstrap import Container, bootstrap
from autofinance.services import accounts, identity, work_queue
from autofinance.services.errors import (
    AccountChoiceNeeded, NotVerified, ServiceError, StepUpRequired, VerificationLocked,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")

_container: Optional[Container] = None
_current_customer: contextvars.ContextVar[identity.VerifiedCustomer] = contextvars.ContextVar(
    "current_customer"
)

TECHNICAL_PROBLEM = (
    "Sorry, something went wrong on our side and nothing was changed. Please try again in a "
    "moment, or say \"agent\" to talk to a person."
)
# The tasks the dialogue can resume after verification (domain slot `pending_task`).
RESUMABLE_TASKS = {"check_balance", "payment_history", "loan_terms", "payoff_quote", "make_payment",
                   "hardship_help", "reset_password", "forgot_username", "login_help",
                   "request_statement", "lease_end_options", "cancel_autopay", "setup_autopay",
                   "cancel_payment", "update_contact_info", "extend_lease",
                   "change_due_date", "past_due", "next_payment", "lease_buyout",
                   "statement_delivery", "tax_document", "fee_question", "returned_payment",
                   "waive_fee", "register_online", "title_status", "insurance_info", "update_insurance",
                   "total_loss", "add_bank_account", "add_debit_card"}


# The account the conversation is about, for a customer with several: the store's internal id
# of the account (never its number), kept for the session (new sessions and /restart clear every
# slot). A hint only: `accounts.primary_account` uses it for an open account of the verified
# customer and for nothing else, so a forged value reaches no one's account.
ACCOUNT_SLOT = "account_choice"
# The action to go on with once the customer has said which account (set when asking).
ACCOUNT_RESUME_SLOT = "account_choice_for"


def container() -> Container:
    """The process's container, built on first use (never at import time)."""
    global _container
    if _container is None:
        _container = bootstrap()
    return _container


def set_container(new: Optional[Container]) -> None:
    """For tests: run the actions against another store."""
    global _container
    _container = new


async def call(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Runs a synchronous service in a worker thread, so the event loop never blocks."""
    return await asyncio.to_thread(functools.partial(function, *args, **kwargs))


def current_customer() -> identity.VerifiedCustomer:
    """The verified customer of the action being run (set by the guard)."""
    return _current_customer.get()


def portal_claims(tracker: Tracker) -> Optional[portal_tokens.PortalClaims]:
    """The signed-in customer of this message, if its portal token is valid and is for this
    conversation (the widget channel derives the conversation id from the token)."""
    token = (tracker.latest_message.get("metadata") or {}).get("portal_token")
    claims = portal_tokens.verify_token(token, container().settings)
    if claims is None or tracker.sender_id != f"portal-{claims.customer_id}":
        return None
    return claims


async def check_verified(tracker: Tracker, level: str) -> identity.VerifiedCustomer:
    """The one guard: raises NotVerified / StepUpRequired unless the store says verified.

    Only the portal token is read here; `identity.verify_conversation` holds the rules (a
    portal session counts only while the message carries a valid token for it).
    """
    claims = portal_claims(tracker)
    customer = await call(identity.verify_conversation, tracker.sender_id, level,
                          tracker.get_latest_input_channel(),
                          claims.customer_id if claims is not None else None, container().uow())
    _current_customer.set(customer)
    return customer


STEP_UP_MESSAGE = "For changes to your account, I'll confirm it's you with a one-time code."


async def step_up_events(tracker: Tracker) -> Optional[list[EventType]]:
    """For a customer signed in on the website: opens a verification for them (the identity
    service checks the portal session) and fills the identity form's first two answers, so
    that it asks only where to send the code, and the code. None when the message carries no
    valid portal token of a signed-in conversation: then the customer identifies as anyone
    else. Raises VerificationLocked when the customer or the conversation is blocked.
    """
    claims = portal_claims(tracker)
    if claims is None:
        return None
    channel = tracker.get_latest_input_channel()
    try:
        await check_verified(tracker, "read")  # signs the conversation in if it is not yet
        options = await call(identity.start_step_up, tracker.sender_id, claims.customer_id,
                             container().uow(), channel=channel)
    except VerificationLocked:
        raise
    except ServiceError:  # NotVerified: no live portal session after all
        return None
    # Rasa validates every form slot set since the customer's message: the code's slots are
    # cleared only when they hold something.
    cleared = [SlotSet(slot, None) for slot in ("otp_channel", "otp_code")
               if tracker.get_slot(slot) is not None]
    return [SlotSet("identifier", "provided"), SlotSet("identity_factor", "provided"), *cleared,
            SlotSet("masked_email", options.email_masked),
            SlotSet("masked_phone", options.phone_masked)]


async def start_verification(
    tracker: Tracker, dispatcher: CollectingDispatcher
) -> Optional[list[EventType]]:
    """The events that start verification: the step-up's prefilled answers for a signed-in
    customer, none (the whole form) for anyone else; None when verification is blocked (the
    customer has been told why, and the form must not start)."""
    try:
        prefilled = await step_up_events(tracker)
    except VerificationLocked as error:
        dispatcher.utter_message(text=error.message)
        return None
    except Exception:  # noqa: BLE001 - the whole form still works
        logger.exception("starting the step-up failed")
        prefilled = None
    if prefilled is None:
        dispatcher.utter_message(response="utter_need_verification")
        return []
    dispatcher.utter_message(text=STEP_UP_MESSAGE)
    return prefilled


async def reverify_events(tracker: Tracker, dispatcher: CollectingDispatcher) -> list[EventType]:
    """Leads a customer whose verification is missing, lapsed or too low back through
    verification: a customer signed in on the website only receives a code."""
    intent = tracker.latest_message.get("intent", {}).get("name")
    task = intent if intent in RESUMABLE_TASKS else None
    start = await start_verification(tracker, dispatcher)
    if start is None:
        return [SlotSet("verified", False), SlotSet("pending_task", None)]
    return [SlotSet("verified", False), SlotSet("pending_task", task), *start,
            FollowupAction("identity_form")]


async def tell_decisions(dispatcher: CollectingDispatcher, customer: identity.VerifiedCustomer) -> None:
    """Says, once each, what a specialist decided on the customer's requests since they were last
    told in a chat (the work queues). Never stands in the way of what the customer asked."""
    try:
        outcomes = await call(work_queue.outcomes_to_tell, customer.customer_id, container().uow())
    except Exception:  # noqa: BLE001 - the email has told them; the chat tries again next time
        logger.exception("reading the decided work items failed")
        return
    for outcome in outcomes:
        dispatcher.utter_message(response="utter_work_item_outcome", work_item_outcome=outcome.text)


def account_choice(tracker: Tracker) -> accounts.AccountChoice:
    """The account choice the conversation's slot names (an id; anything else names none)."""
    value = tracker.get_slot(ACCOUNT_SLOT)
    text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    return accounts.AccountChoice(int(text) if text.isdigit() and len(text) < 12 else None)


def account_buttons(options: tuple[accounts.AccountOption, ...]) -> list[dict[str, str]]:
    """One button per account: 'loan ****4821 · 2021 Toyota Camry'."""
    return [{"title": option.label, "payload": f'/switch_account{{"account_ref":"{option.account_id}"}}'}
            for option in options]


def ask_which_account(dispatcher: CollectingDispatcher, tracker: Tracker,
                      needed: AccountChoiceNeeded, resume: Optional[str]) -> list[EventType]:
    """Asks which account, as buttons, and remembers what to go on with once it is chosen
    (`action_switch_account`); the dialogue then waits for the answer."""
    dispatcher.utter_message(response="utter_ask_account_choice",
                             buttons=account_buttons(tuple(needed.options)))  # type: ignore[arg-type]
    events: list[EventType] = []
    if tracker.get_slot(ACCOUNT_SLOT) is not None:  # stale or not this customer's: dropped
        events.append(SlotSet(ACCOUNT_SLOT, None))
    if tracker.active_loop_name:  # asked inside a form: the form goes on afterwards
        resume = tracker.active_loop_name
        events += [ActiveLoop(None), SlotSet("requested_slot", None)]
    return [*events, SlotSet(ACCOUNT_RESUME_SLOT, resume), FollowupAction("action_listen")]


async def name_the_account(dispatcher: CollectingDispatcher, first: int,
                           customer: identity.VerifiedCustomer, choice: accounts.AccountChoice) -> None:
    """Puts "About your lease ****7390 (2023 Honda CR-V):" before the answer at `first`, when
    the customer has several accounts: they always know which one an answer is about."""
    if choice.account_id is None or len(dispatcher.messages) <= first:
        return
    in_play = await call(accounts.accounts_in_play, customer.customer_id, choice.account_id,
                         container().uow())
    if not in_play.several or in_play.chosen is None:
        return
    header = CollectingDispatcher()
    header.utter_message(response="utter_account_in_play", account=in_play.chosen.described)
    dispatcher.messages.insert(first, header.messages[0])


class AccountAction(Action, ABC):
    """Base of every action that reads or changes account data.

    `run` is final: it checks verification, tells any decision on the customer's requests not
    yet told in a chat, then calls `run_verified`. Service errors become their customer-safe
    message; anything unexpected becomes an apology, never a stack trace.
    """

    required_level: ClassVar[str] = "read"
    # True for answers that name their account themselves ("Your 2021 Toyota Camry loan (****4821)
    # has..."): no "About your loan ****4821" line before them
    names_its_account: ClassVar[bool] = False

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        try:
            customer = await check_verified(tracker, self.required_level)
        except (NotVerified, StepUpRequired):
            return await reverify_events(tracker, dispatcher)
        await tell_decisions(dispatcher, customer)
        first = len(dispatcher.messages)
        try:
            with accounts.choosing(account_choice(tracker)) as choice:
                events = await self.run_verified(dispatcher, tracker, domain, customer)
            # in a form only before its summary (the question "..._confirmed"), and not right after
            # a switch, which has just said "Okay, your lease ****9922 ..."
            if choice.used and not self.names_its_account \
                    and (not tracker.active_loop_name or self.name().endswith("_confirmed")) \
                    and tracker.latest_action_name != "action_switch_account":
                await name_the_account(dispatcher, first, customer, choice)
            if choice.used and tracker.get_slot(ACCOUNT_RESUME_SLOT) is not None:
                events = [*events, SlotSet(ACCOUNT_RESUME_SLOT, None)]  # the question was answered
            return events
        except AccountChoiceNeeded as needed:  # several accounts and none chosen: ask, then go on
            del dispatcher.messages[first:]
            return ask_which_account(dispatcher, tracker, needed, self.name())
        except ServiceError as error:
            dispatcher.utter_message(text=error.message)
            return []
        except Exception:  # noqa: BLE001 - the customer gets an apology, the log the details
            logger.exception("action %s failed", self.name())
            dispatcher.utter_message(text=TECHNICAL_PROBLEM)
            return []

    @abstractmethod
    async def run_verified(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
        customer: identity.VerifiedCustomer,
    ) -> list[EventType]:
        """The action's work, for a customer the guard has verified."""


class AccountFormValidation(FormValidationAction, ABC):
    """Base of form validators over account data: verified first, or the form stops."""

    required_level: ClassVar[str] = "read"

    @abstractmethod
    def name(self) -> str:
        """`validate_<form name>`; abstract so that rasa_sdk does not register this base."""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        try:
            await check_verified(tracker, self.required_level)
        except (NotVerified, StepUpRequired):
            stopped = [ActiveLoop(None), SlotSet("requested_slot", None), SlotSet("verified", False)]
            start = await start_verification(tracker, dispatcher)
            if start is None:
                return stopped
            return [*stopped, *start, FollowupAction("identity_form")]
        try:
            with accounts.choosing(account_choice(tracker)):
                return await super().run(dispatcher, tracker, domain)
        except AccountChoiceNeeded as needed:  # the choice was lost meanwhile: ask, then go on
            return ask_which_account(dispatcher, tracker, needed, None)
        except Exception:  # noqa: BLE001
            logger.exception("validation %s failed", self.name())
            dispatcher.utter_message(text=TECHNICAL_PROBLEM)
            return [ActiveLoop(None), SlotSet("requested_slot", None)]


def lender_today() -> date:
    """Today's date where the lender is: due dates and 'today' mean the customer's day."""
    return datetime.now(ZoneInfo(container().settings.lender_timezone)).date()
