"""Fees in conversation: why a fee was charged, a returned payment, and the courtesy waiver.

The service (autofinance/services/fees.py) holds the waiver policy and says why; these actions
only word it. A waiver changes nothing until the customer says yes; a refusal comes with the
ticket a specialist reviews.
"""
from __future__ import annotations

from decimal import Decimal

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.answers import AnswerAction
from actions.details import task_request
from actions.runtime import AccountAction, call, container, lender_today
from autofinance.domain.money import format_usd
from autofinance.domain.parsing import format_long_date, parse_amount
from autofinance.services import fees, identity
from autofinance.services.errors import ServiceError

# What the fee answers say; `str.format` fills the figures.
TEXT = {
    "fee_line": "- {charged}: {amount} {label}: {reason}{status}",
    "waived": " (waived {waived})",
    "paid": " (paid)",
    "fees_intro": "Here are the fees on your account and why each was charged:",
    "no_fees": "There are no late or returned-payment fees on your account.",
    "no_such_fee": "I don't see a {amount} fee on your account. These are the fees I do see:",
    "fees_owed": " You still owe {owed} in fees; they're included in your payoff amount.",
    "waiver_hint": " If you'd like me to look at waiving a late fee, just ask.",
    "no_returned": "None of your recent payments was returned: they all went through or are still "
                   "processing.",
    "returned": "Your payment of {amount} from {method} on {date} (confirmation {confirmation}) was "
                "returned by your bank, so it didn't count toward your account.",
    "returned_fee": " A {fee} returned-payment fee was charged on {charged}.",
    "returned_next": " What to do next: check with your bank why it was returned (for example, "
                     "funds or a closed account) before using that account again.",
    "returned_pay_again": " You can pay again now from {others}: just say \"make a payment\".",
    "returned_pay_again_any": " You can pay again now: just say \"make a payment\".",
    "returned_autopay": " Your autopay stays on and uses the same account, so make sure it's sorted "
                        "out before the next debit, or say \"change my autopay\".",
    "offer": "{reason} I can waive the {amount} late fee charged {charged} ({fee_reason}). Shall I "
             "waive it? You can do this once every 12 months.",
    "refused_review": "{reason} I've asked a specialist to review your request (reference "
                      "{reference}). They'll look at your account and email you their decision; "
                      "the fee stays on your account until they decide.",
    "waived_done": "Done: the {amount} late fee is waived and a receipt is on its way to your email. "
                   "Fees still owed on your account: {owed}. Is there anything else I can help with?",
    "not_waived_after_error": "{error} Nothing was changed.",
}
YES_NO = [{"title": "Yes, waive it", "payload": "/affirm"}, {"title": "No, leave it", "payload": "/deny"}]
PAY_BUTTON = [{"title": "Make a payment", "payload": "/make_payment"}]


def _fee_row(fee: fees.FeeLine) -> str:
    status = (TEXT["waived"].format(waived=format_long_date(fee.waived_on)) if fee.waived_on
              else TEXT["paid"] if fee.status == "paid" else "")
    return TEXT["fee_line"].format(charged=format_long_date(fee.charged_on), amount=format_usd(fee.amount),
                                   label=fee.label, reason=fee.reason, status=status)


def fee_rows(lines: list[fees.FeeLine]) -> list[str]:
    """The fees as lines of a list, for the payment history too."""
    return [_fee_row(fee) for fee in lines]


class ActionExplainFees(AnswerAction):
    """"Why was I charged a fee?", "what is this $15 charge?": each fee with its reason."""

    def name(self) -> str:
        return "action_explain_fees"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict,
                     customer: identity.VerifiedCustomer) -> list[EventType]:
        lines = await call(fees.recent_fees, customer.customer_id, container().uow())
        if not lines:
            dispatcher.utter_message(text=TEXT["no_fees"])
            return []
        request = task_request(tracker)  # the question, not the code typed to verify in between
        asked = parse_amount(request.text) if request.intent == "fee_question" else None
        matching = [fee for fee in lines if fee.amount == asked] if asked is not None else lines
        intro = TEXT["fees_intro"] if matching else TEXT["no_such_fee"].format(amount=format_usd(asked))
        owed = sum((fee.amount for fee in lines if fee.status == "charged"), start=Decimal("0"))
        text = "\n".join([intro, *fee_rows(matching or lines)])
        if owed > 0:
            text += "\n" + TEXT["fees_owed"].strip().format(owed=format_usd(owed))
        if any(fee.kind == "late" and fee.status == "charged" for fee in lines):
            text += TEXT["waiver_hint"]
        dispatcher.utter_message(text=text)
        return []


class ActionExplainReturnedPayment(AnswerAction):
    """"My payment bounced": which payment, when, the fee and what to do next."""

    def name(self) -> str:
        return "action_explain_returned_payment"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict,
                     customer: identity.VerifiedCustomer) -> list[EventType]:
        returned = await call(fees.latest_returned_payment, customer.customer_id, container().uow())
        if returned is None:
            dispatcher.utter_message(text=TEXT["no_returned"])
            return []
        text = TEXT["returned"].format(amount=format_usd(returned.amount), method=returned.method,
                                       date=format_long_date(returned.date),
                                       confirmation=returned.confirmation_number)
        if returned.fee is not None:
            text += TEXT["returned_fee"].format(fee=format_usd(returned.fee.amount),
                                                charged=format_long_date(returned.fee.charged_on))
        text += TEXT["returned_next"]
        text += (TEXT["returned_pay_again"].format(others=" or ".join(returned.other_sources))
                 if returned.other_sources else TEXT["returned_pay_again_any"])
        if returned.on_autopay:
            text += TEXT["returned_autopay"]
        dispatcher.utter_message(text=text, buttons=PAY_BUTTON)
        return []


class ActionOfferFeeWaiver(AccountAction):
    """The policy's decision, said plainly: an offer to confirm, or a refusal with the reference of
    the specialist's review."""

    required_level = "full"

    def name(self) -> str:
        return "action_offer_fee_waiver"

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        decision = await call(fees.fee_waiver_decision, customer.customer_id, tracker.sender_id,
                              tracker.get_latest_input_channel() or "unknown", container().uow(),
                              lender_today())
        if decision.eligible and decision.fee is not None:
            fee = decision.fee
            dispatcher.utter_message(
                text=TEXT["offer"].format(reason=decision.reason, amount=format_usd(fee.amount),
                                          charged=format_long_date(fee.charged_on), fee_reason=fee.reason),
                buttons=YES_NO)
            return [SlotSet("fee_waiver_offered", True)]
        if decision.reference is not None:
            dispatcher.utter_message(text=TEXT["refused_review"].format(reason=decision.reason,
                                                                        reference=decision.reference))
        else:
            dispatcher.utter_message(text=decision.reason)
        return [SlotSet("fee_waiver_offered", False)]


class ActionSubmitFeeWaiver(AccountAction):
    """Waives the fee after a yes to the offer; after a no or "cancel", says nothing was changed."""

    required_level = "full"

    def name(self) -> str:
        return "action_submit_fee_waiver"

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        cleared: list[EventType] = [SlotSet("fee_waiver_offered", None)]
        said_yes = tracker.latest_message.get("intent", {}).get("name") == "affirm"
        if not said_yes or tracker.get_slot("fee_waiver_offered") is not True:
            dispatcher.utter_message(response="utter_fee_not_waived")
            return cleared
        try:
            waived = await call(fees.waive_late_fee, customer.customer_id, container().uow(),
                                container().settings.public_base_url, lender_today())
        except ServiceError as error:
            dispatcher.utter_message(text=TEXT["not_waived_after_error"].format(error=error.message))
            return cleared
        dispatcher.utter_message(text=TEXT["waived_done"].format(amount=format_usd(waived.fee.amount),
                                                                 owed=format_usd(waived.fees_due)))
        return cleared
