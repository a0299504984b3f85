"""Changing the email, mobile number or mailing address in conversation: the new value, then a code.

The service validates the new value and sends the code (to the new email or mobile; for an
address, to the email on file), then applies the change once the code matches. The validators
never leave the new value or the code in a slot: the value is replaced by its masked form as soon
as it is accepted, and the code by the marker "confirmed".
"""
from __future__ import annotations

import re
from typing import Any, Optional

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import details
from actions.answers import answer_second_question
from actions.forms import TaskFormValidation
from actions.runtime import AccountAction, call, container, current_customer
from autofinance.adapters.sealing import seal, unseal
from autofinance.domain.parsing import parse_otp_code
from autofinance.services import contact, identity
from autofinance.services.errors import (
    ContactCodeExpired, ContactCodeInvalid, ContactUnchanged,
    InvalidContactValue, NoPendingContactChange, ServiceError,
)

CONTACT_SLOTS = ("contact_field", "contact_value", "contact_code")
CONFIRMED = "confirmed"
STOPPED = "stopped"  # every slot gets it when the change cannot go on: the form ends, nothing changes
WHAT = {"email": "email address", "mobile": "mobile number", "address": "mailing address"}
ENTITY_FOR = {"email": "email", "mobile": "phone", "address": "address"}
_FIELD_WORDS = {"email": r"e-?mail", "mobile": r"phone|mobile|cell|number",
                "address": r"address|moved|moving|move|street|apartment|live"}
_EMAIL_IN_TEXT = re.compile(r"[^\s,;:]+@[^\s,;:]+")
_PHONE_IN_TEXT = re.compile(r"\+?\(?\d[\d\s().-]{8,}\d")
# "2217 N Halsted St Apt 3R, Chicago IL 60614": a number, a street, a city, a state and a ZIP
_ADDRESS_IN_TEXT = re.compile(r"\b\d{1,6}\s+[A-Za-z0-9 .#'-]+?,?\s+[A-Za-z .'-]+?,?\s+[A-Z]{2}\.?,?\s+\d{5}(?:-\d{4})?\b")
_ADDRESS_LEAD_IN = re.compile(r"^(?:(?:it'?s|it is|my new address is|new address is|the new one is|"
                              r"my address is|new address)\s*:?\s+)", re.I)
_RESEND = re.compile(r"\b(resend|re-send|send (it )?again|new code|didn'?t (get|receive)|never got)\b", re.I)


def parse_contact_field(text: str) -> Optional[str]:
    """Which detail the customer names ('my cell number' -> mobile); None if none or several."""
    text = re.sub(r"\be-?mail\s+address\b", "email", text.lower())
    found = {field for field, words in _FIELD_WORDS.items() if re.search(rf"\b(?:{words})\b", text)}
    return found.pop() if len(found) == 1 else None


def new_value(field: str, text: str, entity: Optional[str]) -> str:
    """The value itself out of what was typed ("it's ana@example.com"): the first reading the
    service would accept, checked locally so that no code is sent for a misreading."""
    pattern = {"email": _EMAIL_IN_TEXT, "mobile": _PHONE_IN_TEXT}.get(field)
    match = pattern.search(text) if pattern else None
    typed = _ADDRESS_LEAD_IN.sub("", text.strip()) if field == "address" else text.strip()
    for candidate in (match.group(0).rstrip(".!?") if match else None, entity):
        if candidate:
            try:
                contact.normalise(field, candidate)
                return candidate
            except InvalidContactValue:
                continue
    return typed


def _stop(dispatcher: CollectingDispatcher, message: str) -> dict[str, Any]:
    dispatcher.utter_message(text=message)
    return {slot: STOPPED for slot in CONTACT_SLOTS}


def requested_change(text: str, entities: dict[str, str]) -> dict[str, str]:
    """What a request already says: which detail ("update my address") and, if it is there and
    reads as a valid one, the new value ("change my email to ana@example.com")."""
    field = entities.get("contact_field") if entities.get("contact_field") in WHAT else parse_contact_field(text)
    if field is None:  # several details named ("my work email ... that address"): the value decides
        field = "email" if _EMAIL_IN_TEXT.search(text) else "mobile" if _PHONE_IN_TEXT.search(text) else None
    if field is None:
        return {}
    found = {"contact_field": field}
    pattern = {"email": _EMAIL_IN_TEXT, "mobile": _PHONE_IN_TEXT, "address": _ADDRESS_IN_TEXT}[field]
    candidates = [m.group(0).rstrip(".!?") for m in pattern.finditer(text)] + [entities.get(ENTITY_FOR[field])]
    for typed in filter(None, candidates):  # "dob 1990-07-22 ... my mobile to (312) 555-0121"
        try:
            contact.normalise(field, typed)
        except InvalidContactValue:
            continue
        found["contact_value"] = typed
        break
    return found


class ActionStartContactChange(AccountAction):
    """Starts the contact form with what the request said; a new value is sealed, never kept
    readable in a slot (the form's validation reads it back once)."""

    required_level = "full"

    def name(self) -> str:
        return "action_start_contact_change"

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        request = details.task_request(tracker)
        found = requested_change(request.text, request.entities)
        pepper = container().settings.secret_pepper
        events: list[EventType] = [*details.consumed(tracker), *(SlotSet(slot, None) for slot in CONTACT_SLOTS)]
        if "contact_field" in found:
            events.append(SlotSet("contact_field", found["contact_field"]))
        if "contact_value" in found:
            events.append(SlotSet("contact_value", seal(found["contact_value"], pepper)))
        return events


class ValidateContactForm(TaskFormValidation):
    """Asks the service at each step, so a bad value or a wrong code is asked for again."""

    required_level = "full"
    stopped_response = "utter_contact_change_stopped"

    def named_values(self, tracker: Tracker) -> dict[str, str]:
        """Asked which detail, the customer may type the new value itself
        ("robert.okafor.tx@example.com"): that says both."""
        if tracker.get_slot("requested_slot") != "contact_field":
            return {}
        found = requested_change(tracker.latest_message.get("text") or "", {})
        return found if "contact_value" in found else {}

    def name(self) -> str:
        return "validate_contact_form"

    async def validate_contact_field(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        said = next(tracker.get_latest_entity_values("contact_field"), None) or str(value)
        field = said if said in WHAT else parse_contact_field(said)
        if field is None:
            dispatcher.utter_message(text="Which would you like to change: your email address, mobile "
                                          "number or mailing address?")
        return {"contact_field": field}

    async def validate_contact_value(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        field = tracker.get_slot("contact_field")
        prefilled = unseal(str(value), container().settings.secret_pepper)
        entity = None if prefilled else next(tracker.get_latest_entity_values(ENTITY_FOR[field]), None)
        typed = new_value(field, prefilled or str(value), entity)
        try:
            pending = await call(contact.request_contact_change, current_customer().customer_id, field,
                                 typed, container().uow(), container().settings.secret_pepper)
        except (InvalidContactValue, ContactUnchanged) as error:
            dispatcher.utter_message(text=f"{error.message} What's the new {WHAT[field]}?")
            return {"contact_value": None}
        except ServiceError as error:  # the daily limit, or a clash with a parallel request
            return _stop(dispatcher, error.message)
        where = {"email": "to your new email address", "mobile": "by text to your new number",
                 "address": "to the email address on file"}[field]
        dispatcher.utter_message(text=f"I've sent a 6-digit code {where}, {pending.destination_masked}. "
                                      f"It expires in {pending.expires_in_minutes} minutes.")
        return {"contact_value": contact.mask(field, contact.normalise(field, typed))}

    async def validate_contact_code(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        field, text = tracker.get_slot("contact_field"), str(value)
        again = {"contact_value": None, "contact_code": None}
        if _RESEND.search(text):
            dispatcher.utter_message(text=f"No problem. Please tell me the new {WHAT[field]} once more "
                                          "and I'll send a new code.")
            return again
        code = parse_otp_code(text)
        if code is None:
            dispatcher.utter_message(text="The code is 6 digits. Please type it as you received it, or say "
                                          "\"resend\" for a new one.")
            return {"contact_code": None}
        try:
            changed = await call(contact.confirm_contact_change, current_customer().customer_id, field,
                                 code, container().uow(), container().settings.secret_pepper)
        except ContactCodeInvalid as error:
            dispatcher.utter_message(text=error.message)
            return {"contact_code": None} if error.attempts_left > 0 else again
        except (ContactCodeExpired, NoPendingContactChange) as error:
            dispatcher.utter_message(text=error.message)
            return again
        except ServiceError as error:  # a fraud report opened since the code was sent
            return _stop(dispatcher, error.message)
        return {"contact_code": CONFIRMED, "contact_value": changed.new_value_masked}


class ActionSubmitContactChange(AccountAction):
    """Reads back the change, masked; a stopped change was already explained by the form."""

    required_level = "full"

    def name(self) -> str:
        return "action_submit_contact_change"

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        cleared: list[EventType] = [SlotSet(slot, None) for slot in CONTACT_SLOTS]
        field = tracker.get_slot("contact_field")
        if tracker.get_slot("contact_code") != CONFIRMED or field not in WHAT:
            return cleared
        notice = {"email": "your old email address", "mobile": "your old number",
                  "address": "your email address"}[field]
        dispatcher.utter_message(
            text=f"Done: your {WHAT[field]} is now {tracker.get_slot('contact_value')}. I've also sent a "
            f"notice to {notice}, in case this change wasn't you. Is there anything else I can help with?"
        )
        return [*cleared, *await answer_second_question(self.name(), dispatcher, tracker, domain, customer,
                                                        asked_for="update_contact_info")]
