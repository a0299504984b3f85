"""Reading the account: balance, payment status, history, terms, payoff quote and lease buyout."""
from __future__ import annotations

import re
from datetime import date, timedelta

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.answers import AnswerAction
from actions.details import task_request
from actions.fees import fee_rows
from actions.runtime import AccountAction, call, container, lender_today
from autofinance.domain.money import format_usd
from autofinance.domain.parsing import format_long_date, mentions_date, parse_date, your_account
from autofinance.services import accounts, fees, identity, lease_end, payoff
from autofinance.services.accounts import LoanBalance, PaymentStatus
from autofinance.services.errors import InvalidPayoffDate, NotALease

NEXT_STEPS = [
    {"title": "Make a payment", "payload": "/make_payment"},
    {"title": "Payoff quote", "payload": "/payoff_quote"},
    {"title": "Payment history", "payload": "/payment_history"},
]
DEFAULT_PAYOFF_DAYS = 10
# What the payment-status and buyout answers say; `str.format` fills the figures.
TEXT = {
    "behind": "Your account is {days} days past due, with {past_due} past due. Paying {past_due} "
              "brings your account current; after that, your next payment of {amount} is due {due}. "
              "Would you like to pay the past-due amount now? If you're having a hard time, I can go "
              "over hardship options with you or connect you with a person.",
    "not_behind": "You're not behind: your account is current. Your next payment of {amount} is due "
                  "{due}.",
    "next_payment": "Your next payment of {amount} is due {due}.",
    "autopay": " You're on autopay, so it'll be taken automatically on {debit} from {source}.",
    "also_past_due": " You also have {past_due} past due ({days} days); paying it brings your account "
                     "current.",
    "buyout": "{lease} buyout, part by part:\n"
              "- Residual value: {residual}\n"
              "- Remaining payments: {count} × {monthly} = {remaining}\n"
              "- Purchase-option fee: {fee}\n"
              "Total buyout price: {total}, good through {good_through}. Your lease ends {maturity}. "
              "Sales tax and fees for your state ({state}) may be added when you buy. To buy it, a "
              "lease-end specialist arranges the purchase and the title with you: you pay us, not the "
              "dealer, from a saved bank account or with a loan from us. Would you like a specialist?",
    "buyout_not_a_lease": "You have a loan, not a lease, so there's no residual value or buyout price: "
                          "the car is yours once the loan is paid off. Would you like a payoff quote?",
}
HARDSHIP_BUTTON = {"title": "I need help with payments", "payload": "/hardship_help"}


class ActionCheckBalance(AnswerAction):
    names_its_account = True  # "Your 2021 Toyota Camry loan (****4821) has ..."

    def name(self) -> str:
        return "action_check_balance"

    async def answer(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict,
        customer: identity.VerifiedCustomer,
    ) -> list[EventType]:
        balance = await call(accounts.balance_summary, customer.customer_id, container().uow(), lender_today())
        if isinstance(balance, LoanBalance):
            text = (
                f"{your_account(balance.vehicle, 'loan')} ({balance.account_masked}) has a principal balance of "
                f"{format_usd(balance.principal_balance)}. Your next payment of "
                f"{format_usd(balance.next_payment_amount)} is due {format_long_date(balance.next_payment_due)}."
            )
        else:
            text = (
                f"{your_account(balance.vehicle, 'lease')} ({balance.account_masked}) has {balance.remaining_payments} "
                f"payments of {format_usd(balance.monthly_payment)} left "
                f"({format_usd(balance.remaining_payments_total)} in all), the next due "
                f"{format_long_date(balance.next_payment_due)}. The residual value is "
                f"{format_usd(balance.residual_value)} and the lease ends {format_long_date(balance.maturity_date)}"
                + (f", with {balance.annual_mileage_allowance:,} miles a year." if balance.annual_mileage_allowance else ".")
            )
        if balance.past_due_amount > 0:
            text += (
                f" Your account is {balance.days_past_due} days past due, with "
                f"{format_usd(balance.past_due_amount)} past due. If you're having a hard time, "
                "ask me about hardship options."
            )
        dispatcher.utter_message(text=text, buttons=NEXT_STEPS)
        return []


class ActionPaymentHistory(AnswerAction):
    def name(self) -> str:
        return "action_payment_history"

    async def answer(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict,
        customer: identity.VerifiedCustomer,
    ) -> list[EventType]:
        lines = await call(accounts.payment_history, customer.customer_id, container().uow())
        charged = await call(fees.recent_fees, customer.customer_id, container().uow())
        if not lines and not charged:
            dispatcher.utter_message(text="I don't see any payments on your account yet.")
            return []
        rows = [
            f"- {format_long_date(line.date)}: {format_usd(line.amount)} from {line.method} ({line.status})"
            for line in lines
        ]
        text = "Your latest payments:\n" + "\n".join(rows) if rows else ""
        if charged:
            text = (text + "\n" if text else "") + "Fees charged:\n" + "\n".join(fee_rows(charged))
        dispatcher.utter_message(text=text)
        return []


class ActionLoanTerms(AnswerAction):
    def name(self) -> str:
        return "action_loan_terms"

    async def answer(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict,
        customer: identity.VerifiedCustomer,
    ) -> list[EventType]:
        terms = await call(accounts.loan_terms, customer.customer_id, container().uow())
        rate = (f"an APR of {terms.apr}%" if terms.apr is not None
                else f"a money factor of {terms.money_factor}")
        kind = "loan" if terms.product == "loan" else "lease"
        dispatcher.utter_message(
            text=f"Your {kind} has {rate}, a monthly payment of {format_usd(terms.monthly_payment)}, "
            f"{terms.payments_remaining} payments left, and ends {format_long_date(terms.maturity_date)}."
        )
        return []


_EMAIL_IT = re.compile(r"\b(e-?mail|send)\b", re.IGNORECASE)


def _emailed_text(emailed: payoff.QuoteEmailed) -> str:
    quote = emailed.quote
    if emailed.sent:
        return (f"I've emailed your payoff quote {quote.quote_number} ({format_usd(quote.amount)}, good through "
                f"{format_long_date(quote.good_through)}) to {emailed.destination_masked}.")
    return f"Payoff quote {quote.quote_number} was already emailed to {emailed.destination_masked}."


class ActionPayoffQuote(AnswerAction):
    """The quote for the date asked (ten days ahead by default), offered by email too."""

    def name(self) -> str:
        return "action_payoff_quote"

    async def answer(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict,
        customer: identity.VerifiedCustomer,
    ) -> list[EventType]:
        today = lender_today()
        request = task_request(tracker)
        latest = tracker.latest_message.get("text") or ""
        # the whole message where it names a day ("a week from today": the entity is only "today")
        asked = latest if mentions_date(latest) else \
            next(tracker.get_latest_entity_values("date"), None) or request.entity("date")
        good_through = (parse_date(asked, today) if asked else None) or today + timedelta(days=DEFAULT_PAYOFF_DAYS)
        said = f"{tracker.latest_message.get('text') or ''} {request.text}"
        if _EMAIL_IT.search(said):  # "email me my payoff quote": the quote, by email, at once
            emailed = await call(payoff.email_payoff_quote, customer.customer_id, good_through,
                                 container().uow(), container().settings.public_base_url, today)
            dispatcher.utter_message(text=_emailed_text(emailed) + " Is there anything else I can help with?")
            return [SlotSet("payoff_good_through", emailed.quote.good_through.isoformat())]
        quote = await call(payoff.payoff_quote, customer.customer_id, good_through, container().uow(), today)
        text = (
            f"Your payoff amount is {format_usd(quote.amount)}, good through "
            f"{format_long_date(quote.good_through)} (quote {quote.quote_number})."
        )
        if quote.per_diem > 0:
            text += f" Interest adds {format_usd(quote.per_diem)} for each day after that."
        text += (" Would you like it by email? For another date within 30 days, just tell me the date.")
        dispatcher.utter_message(text=text, buttons=[{"title": "Email it to me", "payload": "/affirm"},
                                                     {"title": "No, thanks", "payload": "/deny"}])
        return [SlotSet("payoff_good_through", quote.good_through.isoformat())]


class ActionEmailPayoffQuote(AccountAction):
    """Emails the quote just given to the address on file; a new quote if that one has lapsed."""

    def name(self) -> str:
        return "action_email_payoff_quote"

    async def run_verified(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict,
        customer: identity.VerifiedCustomer,
    ) -> list[EventType]:
        today = lender_today()
        quoted = tracker.get_slot("payoff_good_through")
        good_through = date.fromisoformat(quoted) if quoted else today + timedelta(days=DEFAULT_PAYOFF_DAYS)
        try:
            emailed = await call(payoff.email_payoff_quote, customer.customer_id, good_through,
                                 container().uow(), container().settings.public_base_url, today)
        except InvalidPayoffDate:  # the quote lapsed (a conversation left open past its date)
            emailed = await call(payoff.email_payoff_quote, customer.customer_id,
                                 today + timedelta(days=DEFAULT_PAYOFF_DAYS), container().uow(),
                                 container().settings.public_base_url, today)
        dispatcher.utter_message(text=f"{_emailed_text(emailed)} Is there anything else I can help with?")
        return []


def _due(day: date) -> str:
    """'Tuesday, December 15, 2026': a due date with its weekday, to plan the payment by."""
    return f"{day:%A}, {format_long_date(day)}"


async def _status(customer: identity.VerifiedCustomer) -> PaymentStatus:
    return await call(accounts.payment_status, customer.customer_id, container().uow(), lender_today())


def _catch_up_buttons(status: PaymentStatus) -> list[dict[str, str]]:
    """Pay what is past due now, or get help when paying is hard."""
    return [{"title": f"Pay {format_usd(status.past_due_amount)} now",
             "payload": '/make_payment{"amount_choice":"past_due"}'}, HARDSHIP_BUTTON]


class ActionPastDue(AnswerAction):
    """How far behind: the amount and days past due, what gets the account current, and a way to pay."""

    def name(self) -> str:
        return "action_past_due"

    async def answer(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict,
        customer: identity.VerifiedCustomer,
    ) -> list[EventType]:
        status = await _status(customer)
        figures = {"amount": format_usd(status.next_payment_amount), "due": _due(status.next_payment_due)}
        if not status.behind:
            dispatcher.utter_message(text=TEXT["not_behind"].format(**figures))
            return []
        dispatcher.utter_message(
            text=TEXT["behind"].format(days=status.days_past_due,
                                       past_due=format_usd(status.past_due_amount), **figures),
            buttons=_catch_up_buttons(status),
        )
        return []


class ActionNextPayment(AnswerAction):
    """When the next payment is due and how much, whether autopay takes it, and any past due."""

    def name(self) -> str:
        return "action_next_payment"

    async def answer(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict,
        customer: identity.VerifiedCustomer,
    ) -> list[EventType]:
        status = await _status(customer)
        text = TEXT["next_payment"].format(amount=format_usd(status.next_payment_amount),
                                           due=_due(status.next_payment_due))
        if status.autopay_next_debit is not None:
            text += TEXT["autopay"].format(debit=format_long_date(status.autopay_next_debit),
                                           source=status.autopay_source)
        if not status.behind:
            dispatcher.utter_message(text=text)
            return []
        text += TEXT["also_past_due"].format(past_due=format_usd(status.past_due_amount),
                                             days=status.days_past_due)
        dispatcher.utter_message(text=text, buttons=_catch_up_buttons(status))
        return []


class ActionLeaseBuyout(AnswerAction):
    """The buyout price line by line; a loan customer is offered a payoff quote instead."""

    def name(self) -> str:
        return "action_lease_buyout"

    async def answer(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict,
        customer: identity.VerifiedCustomer,
    ) -> list[EventType]:
        try:
            buyout = await call(lease_end.lease_buyout, customer.customer_id, container().uow(),
                                lender_today())
        except NotALease:
            dispatcher.utter_message(text=TEXT["buyout_not_a_lease"],
                                     buttons=[{"title": "Payoff quote", "payload": "/payoff_quote"}])
            return []
        dispatcher.utter_message(text=TEXT["buyout"].format(
            lease=your_account(buyout.vehicle, "lease"),
            residual=format_usd(buyout.residual_value), count=buyout.remaining_payments,
            monthly=format_usd(buyout.monthly_payment),
            remaining=format_usd(buyout.remaining_payments_total),
            fee=format_usd(buyout.purchase_option_fee), total=format_usd(buyout.total),
            good_through=format_long_date(buyout.good_through),
            maturity=format_long_date(buyout.maturity_date),
            state=buyout.state,
        ), buttons=[{"title": "Yes, connect me", "payload": "/affirm"},
                    {"title": "Not now", "payload": "/deny"}])
        return []
