"""Checks that need Rasa, run in Rasa's environment by test_security_rasa_checks.py: the widget's
session ids, the channels' limits from their credentials, and what the tracker store stores and
publishes to the event broker. Prints one JSON line of results."""
from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, List

from rasa.core.brokers.broker import EventBroker
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (ActionExecuted, ActiveLoop, BotUttered, SessionStarted, SlotSet,
                                     UserUttered)
from rasa.shared.core.trackers import DialogueStateTracker

from rasa_ext.channels import (RestInput, SessionIds, WidgetSocketIOInput, client_key, request_address,
                               sender_problem, with_client_key)

ROOT = Path(__file__).resolve().parents[2]
CHECKS: Dict[str, Callable[[], Any]] = {}
JWT = ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiIsImlzcyI6Im1lcmlkaWFuLXBvcnRhbCJ9."
       "c2lnbmF0dXJlLW9mLXRoZS10b2tlbg")
SECRETS = ["123-45-6789", "7301007734", "600457", "6 0 0 4 5 7", "1979", "eyJ", "cvv 123"]


def check(function: Callable[[], Any]) -> Callable[[], Any]:
    CHECKS[function.__name__] = function
    return function


@check
def session_ids() -> Dict[str, Any]:
    ids = SessionIds("portal-secret", max_age_seconds=3600)
    issued = ids.issue()
    signed = ids.sign(issued, now=1_000_000)
    conversation, issued_at, mac = signed.split(".")
    forged_mac = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    return {
        "issued": issued, "other": ids.issue(), "round_trip": ids.verify(signed, now=1_000_100),
        "bare_id": ids.verify(issued, now=1_000_100),
        "forged_mac": ids.verify(f"{conversation}.{issued_at}.{forged_mac}", now=1_000_100),
        "other_conversation": ids.verify(f"web-someone-else.{issued_at}.{mac}", now=1_000_100),
        "newer_time": ids.verify(f"{conversation}.{int(issued_at) + 500}.{mac}", now=1_000_100),
        "other_key": SessionIds("another-secret", 3600).verify(signed, now=1_000_100),
        "expired": ids.verify(signed, now=1_000_000 + 3601),
        "portal": ids.verify(ids.sign("portal-42", now=1_000_000), now=1_000_100),
        "not_a_string": ids.verify({"session_id": signed}),
        "same_key_other_replica": SessionIds("portal-secret", 3600).verify(signed, now=1_000_100),
        "random_key_fallback": SessionIds(None, 3600).verify(signed, now=1_000_100),
    }


@check
def client_keys() -> Dict[str, Any]:
    forged = with_client_key({"client_key": "someone-else", "locale": "en"}, "203.0.113.7", "k" * 20)
    return {
        "same": client_key("203.0.113.7", "k" * 20) == client_key("203.0.113.7", "k" * 20),
        "other_address": client_key("203.0.113.7", "k" * 20) != client_key("203.0.113.8", "k" * 20),
        "other_secret": client_key("203.0.113.7", "k" * 20) != client_key("203.0.113.7", "j" * 20),
        "key": client_key("203.0.113.7", "k" * 20),
        "forged": forged,
        "no_address": with_client_key({"client_key": "someone-else"}, None, "k" * 20),
        "no_secret": client_key("203.0.113.7", ""),
        "rest_secret": RestInput.from_credentials({"client_key_secret": "s" * 20}).client_key_secret,
        "widget_secret": WidgetSocketIOInput.from_credentials(
            {"client_key_secret": "s" * 20}).client_key_secret,
    }


@check
def client_addresses() -> Dict[str, Any]:
    from types import SimpleNamespace

    def request(headers: Dict[str, str]) -> Any:
        return SimpleNamespace(headers=headers, remote_addr="", ip="10.0.0.5")  # the proxy's

    return {
        "behind_proxy_with_header": request_address(request({"X-Real-IP": "203.0.113.7"}), "X-Real-IP"),
        "header_list": request_address(request({"X-Real-IP": "203.0.113.7, 10.0.0.9"}), "X-Real-IP"),
        "header_missing": request_address(request({}), "X-Real-IP"),
        "header_not_configured": request_address(request({"X-Real-IP": "203.0.113.7"})),
        "rest": RestInput.from_credentials({"client_address_header": "X-Real-IP"}).client_address_header,
        "widget": WidgetSocketIOInput.from_credentials(
            {"client_address_header": "X-Real-IP"}).client_address_header,
        "signing_key_shared": SessionIds("k" * 20, 3600).verify(
            SessionIds("k" * 20, 3600).sign("web-abc")) == "web-abc",
    }


@check
def rest_gateway() -> Dict[str, Any]:
    from types import SimpleNamespace

    def status(channel: RestInput, headers: Dict[str, str]) -> Any:
        refused = channel.refusal(SimpleNamespace(headers=headers))
        return None if refused is None else refused.status

    token = "g" * 24
    production = RestInput.from_credentials({"profile": "production", "gateway_token": ""})
    gated = RestInput.from_credentials({"profile": "production", "gateway_token": token})
    demo = RestInput.from_credentials({"profile": "demo", "gateway_token": ""})
    return {
        "production_without_token": status(production, {}),
        "production_with_a_made_up_token": status(production, {"authorization": "Bearer x" * 3}),
        "gated_without_header": status(gated, {}),
        "gated_wrong": status(gated, {"authorization": "Bearer " + "h" * 24}),
        "gated_basic": status(gated, {"authorization": "Basic " + token}),
        "gated_right": status(gated, {"authorization": "Bearer " + token}),
        "demo_open": status(demo, {}),
    }


@check
def limits_from_credentials() -> Dict[str, Any]:
    async def nothing(_: Any) -> None:
        return None

    widget = WidgetSocketIOInput.from_credentials({"max_message_length": "20", "max_body_bytes": 4096})
    widget.blueprint(nothing)
    default_widget = WidgetSocketIOInput.from_credentials({})
    rest = RestInput.from_credentials({"max_message_length": 50, "max_body_bytes": "2048"})
    default_rest = RestInput.from_credentials(None)
    return {"widget": [widget.max_message_length, widget.max_body_bytes],
            "widget_packet_cap": widget.sio.eio.max_http_buffer_size,
            "default_widget": [default_widget.max_message_length, default_widget.max_body_bytes],
            "rest": [rest.max_message_length, rest.max_body_bytes, rest.name()],
            "default_rest": [default_rest.max_message_length, default_rest.max_body_bytes],
            "rest_url": RestInput.from_credentials({}).url_prefix()}


@check
def sender_ids() -> Dict[str, Any]:
    cases = ["maria-rest-1", "+15551234567", "default", "DEFAULT", "portal-1", "web-abc", "", " ",
             "a" * 129, "a" * 128, "../etc/passwd", "x\ny", "<script>", None, 42, ["a"],
             # the messaging channels' conversation ids (item: REST naming other channels' ids)
             "+14045550101", "whatsapp:+14045550101", "WhatsApp:+14045550101", "tel:+14045550101",
             "sms:+14045550101", "770001", "1234567890123456", "U024BE7LH", "W012A3CDE",
             "U024BE7LH_C024BE91L", "U0G9QF9C6_C0G9QF9GZ_1700000000.123456",
             # look-alikes that stay REST ids of their own
             "maria+1@example.com", "u024be7lh", "UNDERSTANDING", "user-770001", "770001a",
             "eval-sms-1a2b", "bench-telegram-3"]
    return {repr(case): sender_problem(case) is None for case in cases}


@check
def messaging_sender_messages() -> Dict[str, Any]:
    """Why a REST sender that looks like another channel's conversation id is refused."""
    return {sender: sender_problem(sender)
            for sender in ("+14045550101", "whatsapp:+14045550101", "770001", "U024BE7LH")}


@check
def messaging_channels_apply_the_message_rules() -> Dict[str, Any]:
    """Every entry of deploy/messaging-channels.yml, built as Rasa builds it from its key: the
    handler each hands to Rasa's own channel code (Rasa's `blueprint`, stubbed so nothing calls
    a platform), fed a 40,000-character message (Slack's limit), a typed
    `/EXTERNAL_handoff_resolved` and a question. What reached Rasa and what was answered."""
    from unittest import mock

    import yaml
    from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
    from rasa.core.run import _create_single_channel
    from sanic import Blueprint

    entries = yaml.safe_load((ROOT / "deploy" / "messaging-channels.yml").read_text()) or {}
    results: Dict[str, Any] = {}
    for number, (key, entry) in enumerate(entries.items()):
        credentials = {name: f"fake-{name}-value" for name in (entry or {})
                       if name != "api_base_url"}
        channel = _create_single_channel(key, credentials)
        rasa_class = next(c for c in type(channel).__mro__
                          if c.__module__.startswith("rasa.core.channels.") and "blueprint" in vars(c))
        handed: List[Callable[[Any], Any]] = []

        def rasa_blueprint(self: Any, on_new_message: Callable[[Any], Any],
                           _number: int = number) -> Blueprint:
            handed.append(on_new_message)
            return Blueprint(f"stub_{_number}_{len(handed)}")

        reached: List[str] = []

        async def on_new_message(message: Any) -> None:
            reached.append(message.text)

        with mock.patch.object(rasa_class, "blueprint", rasa_blueprint):
            channel.blueprint(on_new_message)
        output = CollectingOutputChannel()
        for text in ("word " * 8000, "/EXTERNAL_handoff_resolved", "what are your hours?"):
            asyncio.run(handed[-1](UserMessage(text, output, "770001", input_channel=channel.name())))
        results[channel.name()] = {
            "key": key, "class": f"{type(channel).__module__}.{type(channel).__name__}",
            "url_prefix": channel.url_prefix(), "rasa_class": rasa_class.__name__,
            "reached_rasa": [t if len(t) < 100 else f"<{len(t)} characters>" for t in reached],
            "answered": [m.get("text") for m in output.messages]}
    return results


class Broker(EventBroker):
    def __init__(self) -> None:
        self.published: List[Dict[str, Any]] = []

    def publish(self, event: Dict[str, Any]) -> None:
        self.published.append(json.loads(json.dumps(event)))


@check
def published_and_stored_events_are_redacted() -> Dict[str, Any]:
    domain = Domain.load(str(ROOT / "domain.yml"))
    broker = Broker()
    with tempfile.TemporaryDirectory() as folder:
        from rasa_ext.tracker_store import RedactingSQLTrackerStore

        store = RedactingSQLTrackerStore(domain=domain, dialect="sqlite", db=str(Path(folder) / "t.db"),
                                         event_broker=broker)
        tracker = DialogueStateTracker.from_events("web-x", [  # a session, as Rasa reads it back
            SessionStarted(metadata={"portal_token": JWT}),
            SlotSet("session_started_metadata", {"portal_token": JWT}),
            ActionExecuted("action_listen"),
            UserUttered("what's my balance", {"name": "check_balance"}, metadata={"portal_token": JWT}),
            ActiveLoop("identity_form"), SlotSet("requested_slot", "otp_channel"),
            ActionExecuted("action_listen"),
        ], domain.slots)
        asyncio.run(store.save(tracker))
        first = len(broker.published)
        tracker = asyncio.run(store.retrieve("web-x"))  # the next turn starts from the store
        for event in [
            UserUttered("ssn 123-45-6789", {"name": "inform"}), SlotSet("otp_channel", "ssn 123-45-6789"),
            BotUttered("Should I send the code by email or by text message?"),
            ActiveLoop(None), SlotSet("requested_slot", None),
            UserUttered("someone used acct#7301007734x, cvv 123, born Nov 2nd 1979, code 6 0 0 4 5 7",
                        {"name": "report_fraud"},
                        [{"entity": "account_number", "value": "7301007734", "start": 0, "end": 1}]),
            SlotSet("fraud_description", "someone used acct#7301007734x and code 600457"),
        ]:
            tracker.update(event)
        asyncio.run(store.save(tracker))
        stored = asyncio.run(store.retrieve_full_tracker("web-x"))
        kinds = [e.type_name for e in tracker.events]
        stored_text = json.dumps([e.as_dict() for e in stored.events])
    published_text = json.dumps(broker.published)
    return {
        "published": len(broker.published), "events": len(tracker.events), "first_turn": first,
        "same_kinds": [p["event"] for p in broker.published] == kinds,
        "leaked_to_broker": [s for s in SECRETS if s in published_text],
        "leaked_to_store": [s for s in SECRETS if s in stored_text],
        "stored_count": len(stored.events),
        "published_sender": {p.get("sender_id") for p in broker.published} == {"web-x"},
    }


def main() -> None:
    results = {name: run() for name, run in CHECKS.items()}
    sys.stdout.write("\n" + json.dumps(results) + "\n")


if __name__ == "__main__":
    main()
