"""The account questions the assistant answers wherever they come: on their own, in the middle
of a task (actions/forms.py), or as the second question of a message ("what's my balance and
when is it due": the classifier marks the second clause as an `also_asked` entity)."""
from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from typing import Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import details
from actions.runtime import AccountAction, account_choice, ask_which_account, check_verified
from autofinance.services import accounts, identity
from autofinance.services.errors import AccountChoiceNeeded, NotVerified, StepUpRequired

# intent -> the action that answers it
ANSWERS = {
    "check_balance": "action_check_balance",
    "payoff_quote": "action_payoff_quote",
    "loan_terms": "action_loan_terms",
    "payment_history": "action_payment_history",
    "past_due": "action_past_due",
    "next_payment": "action_next_payment",
    "lease_buyout": "action_lease_buyout",
    "fee_question": "action_explain_fees",
    "returned_payment": "action_explain_returned_payment",
    "title_status": "action_title_status",
    "insurance_info": "action_insurance_info",
}
SECOND_ANSWERS = {**ANSWERS, "request_statement": "action_send_statement",
                  "reset_password": "action_send_password_reset", "forgot_username": "action_send_username",
                  "login_help": "action_login_help", "lease_end_options": "action_lease_end_options"}
# tasks that may be the second request: their start action follows the first answer
SECOND_TASKS = {"make_payment": "action_start_payment", "setup_autopay": "action_check_autopay",
                "hardship_help": "action_hardship_options", "human_handoff": "action_handoff"}
# answers that already contain another: the balance says when the next payment is due
CONTAINED = {"action_check_balance": {"next_payment"}, "action_past_due": {"next_payment"},
             "action_login_help": {"reset_password"}}


def account_action(name: str) -> Optional[AccountAction]:
    """The account action called `name`, among those the action server has loaded."""
    pending = list(AccountAction.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if not inspect.isabstract(cls) and cls().name() == name:
            return cls()
    return None


def also_asked(tracker: Tracker) -> Optional[str]:
    """The second question of the request being answered, if the classifier found one: the
    latest message's, or the request's when verification came in between."""
    for entity in tracker.latest_message.get("entities") or []:
        if entity.get("entity") == "also_asked" and isinstance(entity.get("value"), str):
            return entity["value"]
    return details.task_request(tracker).entity("also_asked")


class AnswerAction(AccountAction, ABC):
    """An account answer; after it, the second question of the same request is answered too."""

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        events = await self.answer(dispatcher, tracker, domain, customer)
        return [*events, *await answer_second_question(self.name(), dispatcher, tracker, domain, customer)]

    @abstractmethod
    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict,
                     customer: identity.VerifiedCustomer) -> list[EventType]:
        """The answer itself."""


async def answer_second_question(answered: str, dispatcher: CollectingDispatcher, tracker: Tracker,
                                 domain: DomainDict, customer: Optional[identity.VerifiedCustomer],
                                 asked_for: Optional[str] = None) -> list[EventType]:
    """Answers the message's second question after `answered` (an action name) answered the
    first: another account answer, a common question ("faq/support_hours"), or a task to start.
    `asked_for`: the intent a task was asked with; a task that was itself the second request
    (started here) does not answer its request's questions again."""
    if asked_for is not None and details.task_request(tracker).intent != asked_for:
        return []
    second = also_asked(tracker)
    if second is None:
        return []
    if second.startswith("faq/"):
        dispatcher.utter_message(response=f"utter_{second}")
        return []
    if customer is None:  # an account question: only for a verified customer
        return []
    if second in SECOND_TASKS and not answered.startswith(SECOND_TASKS[second]):
        return [FollowupAction(SECOND_TASKS[second])]  # "...and can I pay it now?": the task starts
    name = SECOND_ANSWERS.get(second)
    if name is None or name == answered or second in CONTAINED.get(answered, set()):
        return []
    action = account_action(name)
    if isinstance(action, AnswerAction):
        return await action.answer(dispatcher, tracker, domain, customer)
    return await action.run_verified(dispatcher, tracker, domain, customer) if action else []


class ActionAnswerSecondQuestion(Action):
    """After a common question's answer, the message's second question, if it asked one: another
    common question, or an account question when the customer is verified (never before)."""

    def name(self) -> str:
        return "action_answer_second_question"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[EventType]:
        second = also_asked(tracker)
        if second is None:
            return []
        customer = None
        if not second.startswith("faq/"):
            try:
                customer = await check_verified(tracker, "read")
            except (NotVerified, StepUpRequired):
                return []
        try:
            with accounts.choosing(account_choice(tracker)):
                return await answer_second_question("", dispatcher, tracker, domain, customer)
        except AccountChoiceNeeded as needed:  # several accounts: which one, then that answer
            name = SECOND_ANSWERS.get(second)
            return ask_which_account(dispatcher, tracker, needed, name)
