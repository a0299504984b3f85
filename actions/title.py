"""The title in conversation: what happens to it at payoff, or where its release stands.

The service (autofinance/services/title.py) reads the store; this action picks the response
that fits (domain.yml, `utter_title_*`) and fills in the dates.
"""
from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.answers import AnswerAction
from actions.details import consumed
from actions.runtime import call, container, lender_today
from autofinance.domain.parsing import format_long_date
from autofinance.services import identity, title


def title_response(status: title.TitleStatus) -> tuple[str, dict[str, Any]]:
    """The response for where the title stands, and the values it needs."""
    dates = {name: format_long_date(value) for name, value in (
        ("paid_off", status.paid_off_on), ("released", status.released_on),
        ("mailed", status.mailed_on), ("expected", status.expected_by)) if value is not None}
    values: dict[str, Any] = {"vehicle": status.vehicle, "state": status.state or "",
                              "days": status.release_business_days or "", "city": status.mailed_to_city,
                              **dates}
    if status.stage == "lease":
        return "utter_title_lease", values
    if status.kind is None:
        return "utter_title_unknown", values
    if status.stage == "open":
        return f"utter_title_open_{status.kind}", values
    if status.status == "mailed":
        return ("utter_title_mailed_overdue" if status.overdue else "utter_title_mailed"), values
    if status.status == "released":
        return f"utter_title_released_{status.kind}", values
    return "utter_title_release_requested", values


class ActionTitleStatus(AnswerAction):
    """"When do I get my title?": the release at payoff for an open loan, its status after."""

    def name(self) -> str:
        return "action_title_status"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict,
                     customer: identity.VerifiedCustomer) -> list[EventType]:
        status = await call(title.title_status, customer.customer_id, container().uow(), lender_today())
        response, values = title_response(status)
        dispatcher.utter_message(response=response, **values)
        return consumed(tracker)
