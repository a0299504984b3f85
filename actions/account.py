"""Reading the account: balance, payment history, terms and payoff quote."""
from __future__ import annotations

from datetime import date, timedelta

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.runtime import AccountAction, call, container, lender_today
from autofinance.domain.money import format_usd
from autofinance.domain.parsing import format_long_date, parse_date, your_account
from autofinance.services import accounts, identity, payoff
from autofinance.services.accounts import LoanBalance
from autofinance.services.errors import InvalidPayoffDate

NEXT_STEPS = [
    {"title": "Make a payment", "payload": "/make_payment"},
    {"title": "Payoff quote", "payload": "/payoff_quote"},
    {"title": "Payment history", "payload": "/payment_history"},
]
DEFAULT_PAYOFF_DAYS = 10


class ActionCheckBalance(AccountAction):
    def name(self) -> str:
        return "action_check_balance"

    async def run_verified(
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


class ActionPaymentHistory(AccountAction):
    def name(self) -> str:
        return "action_payment_history"

    async def run_verified(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict,
        customer: identity.VerifiedCustomer,
    ) -> list[EventType]:
        lines = await call(accounts.payment_history, customer.customer_id, container().uow())
        if not lines:
            dispatcher.utter_message(text="I don't see any payments on your account yet.")
            return []
        rows = [
            f"- {format_long_date(line.date)}: {format_usd(line.amount)} from {line.method} ({line.status})"
            for line in lines
        ]
        dispatcher.utter_message(text="Your latest payments:\n" + "\n".join(rows))
        return []


class ActionLoanTerms(AccountAction):
    def name(self) -> str:
        return "action_loan_terms"

    async def run_verified(
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


class ActionPayoffQuote(AccountAction):
    """The quote for the date asked (ten days ahead by default), offered by email too."""

    def name(self) -> str:
        return "action_payoff_quote"

    async def run_verified(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict,
        customer: identity.VerifiedCustomer,
    ) -> list[EventType]:
        today = lender_today()
        asked = next(tracker.get_latest_entity_values("date"), None)
        good_through = (parse_date(asked, today) if asked else None) or today + timedelta(days=DEFAULT_PAYOFF_DAYS)
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
        quote = emailed.quote
        if emailed.sent:
            text = (f"I've emailed quote {quote.quote_number} ({format_usd(quote.amount)}, good through "
                    f"{format_long_date(quote.good_through)}) to {emailed.destination_masked}.")
        else:
            text = f"Quote {quote.quote_number} was already emailed to {emailed.destination_masked}."
        dispatcher.utter_message(text=f"{text} Is there anything else I can help with?")
        return []
