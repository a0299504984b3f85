"""Checks of `rasa_ext.serving` and the tracker store that need Rasa: run by Rasa's Python.

`tests/unit/rasa_ext/test_serving.py` runs this file with `.venv/rasa/bin/python` (the app
environment has no Rasa) and asserts on the JSON it prints: one entry per check.
"""
from __future__ import annotations

import asyncio
import copy
import json
import random
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, List

import sqlalchemy
from jsonschema import ValidationError, validators
from rasa.core.actions.action import RemoteAction
from rasa.core.policies.rule_policy import RulePolicy
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (ActionExecuted, ActionExecutionRejected, ActionReverted, ActiveLoop,
                                     Event, Restarted, SessionStarted, SlotSet, UserUttered,
                                     UserUtteranceReverted)
from rasa.shared.core.slots import Slot
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.utils.common import all_subclasses

from rasa_ext import serving
from rasa_ext.redaction import redact_events
from rasa_ext.tracker_store import RedactingSQLTrackerStore

ROOT = Path(__file__).resolve().parents[3]
CHECKS: Dict[str, Callable[[], Any]] = {}


def check(function: Callable[[], Any]) -> Callable[[], Any]:
    CHECKS[function.__name__] = function
    return function


def _error(result: Dict[str, Any]) -> str:
    try:
        RemoteAction("validate_payment_form", None)._validate_action_result(result)
    except ValidationError as error:
        return error.message
    return ""


INVALID_ANSWERS = [{"events": [{"event": "slot", "name": 5}]}, {"events": "none"},
                   {"responses": [3]}, {"events": [{"event": "nonsense"}]}]


@check
def validator_is_built_once_and_errs_like_rasa() -> Dict[str, Any]:
    serving.uninstall()
    stock_errors = [_error(answer) for answer in INVALID_ANSWERS]
    serving.install()
    serving.response_validator.cache_clear()
    serving.event_validators.cache_clear()
    schema_checks = []
    validator_class = validators.validator_for(RemoteAction.action_response_format_spec())
    original = validator_class.check_schema
    validator_class.check_schema = classmethod(  # type: ignore[method-assign]
        lambda cls, schema, *a, **k: (schema_checks.append(1), original(schema, *a, **k))[1])
    try:
        valid = {"events": [{"event": "slot", "name": "payment_amount", "value": "25"}],
                 "responses": [{"text": "ok"}]}
        accepted = all(
            RemoteAction("validate_payment_form", None)._validate_action_result(valid)
            for _ in range(20))
    finally:
        validator_class.check_schema = original  # type: ignore[method-assign]
    return {"schema_checks": len(schema_checks), "accepted": accepted,
            "same_errors": [_error(answer) for answer in INVALID_ANSWERS] == stock_errors,
            "errors": stock_errors}


VALID_ANSWERS = [
    {"events": [{"event": "slot", "name": "payment_amount", "value": "25"}]},
    {"events": [{"event": "action", "name": "utter_greet", "policy": None, "confidence": 1.0},
                {"event": "active_loop", "name": "payment_form"},
                {"event": "followup", "name": "action_listen"},
                {"event": "bot", "text": "hi", "data": {}, "metadata": {}},
                {"event": "reset_slots"}, {"event": "restart"}, {"event": "session_started"},
                {"event": "pause"}, {"event": "resume"}, {"event": "undo"}, {"event": "rewind"},
                {"event": "form", "name": None}, {"event": "agent", "text": "x"},
                {"event": "user", "text": "hi", "parse_data": {
                    "intent": {"name": "greet", "confidence": 1.0},
                    "entities": [{"entity": "amount", "value": "25", "start": 0, "end": 2}]}},
                {"event": "entities", "entities": []},
                {"event": "slot", "name": "x", "value": None, "timestamp": 1.5}],
     "responses": [{"text": "ok"}, {"response": "utter_greet"}]},
    {}, {"responses": []}, {"events": []},
]
MORE_INVALID = [
    {"events": [{"event": "slot", "name": "x"}]},  # no value
    {"events": [{"event": ["slot"], "name": "x", "value": 1}]},  # event not a string
    {"events": [{"name": "x", "value": 1}]},  # no event
    {"events": [{"event": "action", "name": 5}]},
    {"events": [{"event": "user", "parse_data": {"entities": [{"entity": "x"}]}}]},
    {"events": [{"event": "slot", "name": "x", "value": 1, "timestamp": "now"}]},
    {"events": [{"event": "entities"}]}, {"events": [7]}, {"responses": "ok"}, [], "answer",
    {"events": [{"event": "bot", "metadata": "m"}]},
]


@check
def quick_answer_check_accepts_exactly_what_rasa_accepts() -> Dict[str, Any]:
    """The quick check accepts what Rasa's full validation accepts (so valid answers skip the
    `oneOf`), and nothing that it refuses (those get the full check and Rasa's error)."""
    serving.install()
    full = serving.response_validator()
    kinds = [kind["properties"]["event"]["const"]
             for kind in RemoteAction.action_response_format_spec()[
                 "properties"]["events"]["items"]["oneOf"]]
    answers = VALID_ANSWERS + MORE_INVALID + INVALID_ANSWERS
    return {"distinct_types": len(kinds) == len(set(kinds)) and len(kinds) > 20,
            "valid_quick": [serving._quickly_valid(a) for a in VALID_ANSWERS],
            "valid_full": [full.is_valid(a) for a in VALID_ANSWERS],
            "agree": all(serving._quickly_valid(a) == full.is_valid(a) for a in answers),
            "invalid_refused": not any(serving._quickly_valid(a)
                                       for a in MORE_INVALID + INVALID_ANSWERS)}


@check
def event_types_resolve_as_rasa_does() -> Dict[str, Any]:
    names = sorted({cls.type_name for cls in all_subclasses(Event)})
    serving.uninstall()
    stock = {name: Event.resolve_by_type(name) for name in names}
    serving.install()
    patched = {name: Event.resolve_by_type(name) for name in names}
    again = {name: Event.resolve_by_type(name) for name in names}
    try:
        Event.resolve_by_type("no_such_event")
        unknown = "no error"
    except ValueError as error:
        unknown = str(error)
    return {"same": patched == stock == again, "count": len(names),
            "unknown": unknown, "default": Event.resolve_by_type("nope", SlotSet) is SlotSet,
            "topic": Event.resolve_by_type("topic") is None}


@check
def slots_copy_as_copy_copy_does() -> Dict[str, Any]:
    domain = Domain.load(str(ROOT / "domain.yml"))
    tracker = _conversation(domain)  # slots with values set
    originals = list(tracker.slots.values())
    serving.uninstall()
    stock = [copy.copy(slot) for slot in originals]
    serving.install()
    patched = [copy.copy(slot) for slot in originals]

    def same(a: Any, b: Any) -> bool:
        return (type(a) is type(b) and a.__dict__.keys() == b.__dict__.keys()
                and all(a.__dict__[key] is b.__dict__[key] for key in a.__dict__))

    copied = tracker.init_copy()
    copied.slots["pending_task"].value = "payoff_quote"
    return {"same": all(same(p, s) for p, s in zip(patched, stock)), "count": len(originals),
            "new_objects": all(p is not o for p, o in zip(patched, originals)),
            "classes": len({type(slot).__name__ for slot in originals}),
            "original_kept": tracker.slots["pending_task"].value == "check_balance",
            "patched": "__copy__" in Slot.__dict__}


def _conversation(domain: Domain) -> DialogueStateTracker:
    events: List[Event] = [
        SessionStarted(), ActionExecuted("action_listen"),
        UserUttered("hi", {"name": "greet", "confidence": 1.0}), ActionExecuted("utter_greet"),
        ActionExecuted("action_listen"),
        UserUttered("balance", {"name": "check_balance", "confidence": 1.0}),
        ActionExecuted("action_remember_task"), SlotSet("pending_task", "check_balance"),
        ActionExecuted("identity_form"), ActiveLoop("identity_form"),
        SlotSet("requested_slot", "identifier"), ActionExecuted("action_listen"),
        UserUttered("7400000100", {"name": "inform", "confidence": 1.0}),
    ]
    return DialogueStateTracker.from_events("checks", events, domain.slots)


@check
def states_are_computed_once_per_question_within_a_prediction() -> Dict[str, Any]:
    serving.install()
    domain = Domain.load(str(ROOT / "domain.yml"))
    tracker = _conversation(domain)
    rule_only = {"rule_only_slots": ["pending_task"], "rule_only_loops": ["identity_form"]}
    questions = [dict(), dict(ignore_rule_only_turns=True, rule_only_data=rule_only)]
    expected = [serving._STOCK["past_states"](tracker, domain, **q) for q in questions]
    computed: List[int] = []
    stock = serving._STOCK["past_states"]
    serving._STOCK["past_states"] = lambda *a, **k: (computed.append(1), stock(*a, **k))[1]
    try:
        token = serving._prediction_states.set({})
        first = [tracker.past_states(domain, **q) for q in questions]
        first[0][-1].clear()  # a caller editing its copy (as the featurizers do) changes nothing
        second = [tracker.past_states(domain, **q) for q in questions]
        inside = len(computed)
        tracker.update(ActionExecuted("validate_identity_form"))  # a changed tracker: recomputed
        third = tracker.past_states(domain)
        after_change = len(computed)
        serving._prediction_states.reset(token)
        tracker.past_states(domain)  # no prediction running: Rasa's own, every time
        tracker.past_states(domain)
        outside = len(computed) - after_change
    finally:
        serving._STOCK["past_states"] = stock
    return {"same": second == expected and first[1] == expected[1],
            "computed_inside": inside, "recomputed_after_change": after_change - inside,
            "changed_states_longer": len(third) == len(expected[0]) + 1,
            "computed_outside": outside}


def _random_state(rng: random.Random, first: bool) -> Dict[str, Any]:
    """A state such as the rule policy stores: a turn's previous action, intent, slots, loop."""
    state: Dict[str, Any] = {}
    if not first or rng.random() < 0.5:  # a conversation's first state has no previous action
        state["prev_action"] = {"action_name": rng.choice(
            ["action_listen", "utter_greet", "identity_form", "payment_form", "should_not_be_set"]
            if rng.random() < 0.9 else [""])}
    if rng.random() < 0.7:
        state["user"] = {"intent": rng.choice(["greet", "inform", "affirm", "check_balance"])}
    if rng.random() < 0.5:
        state["slots"] = {rng.choice(["verified", "pending_task"]): rng.choice([(1.0,), (0.0,)])}
    if rng.random() < 0.3:
        state["active_loop"] = {"name": rng.choice(["identity_form", "should_not_be_set"])}
    return state


@check
def rules_found_for_a_conversation_are_rasas() -> Dict[str, Any]:
    """The rule policy's search for applicable rules, stopped once past the longest rule, finds
    the rules Rasa's full walk back finds, on conversations long and short."""
    serving.install()
    rng = random.Random(7)
    policy = RulePolicy.__new__(RulePolicy)  # the search uses no trained state but the lookup
    lookup = {}
    for _ in range(400):
        length = rng.choice([1, 1, 2, 2, 3, 4, 5])
        rule = [_random_state(rng, first=i == 0) for i in range(length)]
        lookup[json.dumps(rule, sort_keys=True)] = "utter_greet"
    same = found = 0
    for _ in range(300):
        states = [_random_state(rng, first=i == 0) for i in range(rng.randint(1, 40))]
        ours = policy._get_possible_keys(lookup, states)
        rasas = serving._STOCK["possible_keys"](policy, lookup, states)
        same += ours == rasas
        found += bool(rasas)
    return {"patched": RulePolicy._get_possible_keys is serving._get_possible_keys,
            "same": same, "found": found}


def _random_event(rng: random.Random) -> Event:
    """An event of a form-filling conversation, now and then one that undoes others."""
    roll = rng.random()
    if roll < 0.35:
        return ActionExecuted(rng.choice(["action_listen", "utter_greet", "payment_form",
                                          "identity_form", "action_submit_payment"]))
    if roll < 0.55:
        return UserUttered("text", {"name": rng.choice(["inform", "affirm"]), "confidence": 1.0})
    if roll < 0.65:
        return ActiveLoop(rng.choice(["payment_form", "identity_form", "bank_account_form", None]))
    if roll < 0.8:
        return SlotSet("requested_slot", rng.choice(["payment_amount", None]))
    if roll < 0.87:
        return ActionExecutionRejected(rng.choice(["payment_form", "identity_form"]))
    return rng.choice([UserUtteranceReverted(), ActionReverted(), Restarted(), SessionStarted()])


@check
def events_that_count_are_rasas_as_a_conversation_grows() -> Dict[str, Any]:
    """A tracker's applied events, carried on from its last answer, equal Rasa's worked out from
    the start, after every event of conversations with forms, rejections, rewinds, restarts."""
    serving.install()
    domain = Domain.load(str(ROOT / "domain.yml"))
    rng = random.Random(11)
    checked = same = carried = 0
    stock = serving._STOCK["applied"]
    for _ in range(200):
        tracker = DialogueStateTracker.from_events("growing", [], domain.slots)
        for _ in range(rng.randint(1, 90)):
            for _ in range(rng.randint(1, 3)):
                tracker.update(_random_event(rng))
            memo_before = tracker.__dict__.get(serving._APPLIED)
            ours, rasas = tracker.applied_events(), stock(tracker)
            checked += 1
            same += len(ours) == len(rasas) and all(a is b for a, b in zip(ours, rasas))
            carried += memo_before is not None
            ours.clear()  # a caller's copy: clearing it changes nothing kept
    return {"patched": DialogueStateTracker.applied_events is serving._applied_events,
            "checked": checked, "same": same, "carried": carried}


@check
def the_store_reads_what_rasa_reads_in_wal_mode() -> Dict[str, Any]:
    domain = Domain.load(str(ROOT / "domain.yml"))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "tracker.db"
        store = RedactingSQLTrackerStore(domain=domain, dialect="sqlite", db=str(path))
        opened: List[int] = []  # SQLite connections opened after the store started
        sqlalchemy.event.listen(store.engine, "connect", lambda *_: opened.append(1))
        rasas_own = SQLTrackerStore(domain=domain, dialect="sqlite",
                                    db=str(Path(folder) / "rasa.db"))
        tracker = _conversation(domain)
        for target in (store, rasas_own):
            asyncio.run(target.save(tracker))
        then = tracker.events[-1].timestamp
        for offset, event in enumerate([ActionExecuted("action_session_start"), SessionStarted(),
                                        ActionExecuted("action_listen")], start=1):
            event.timestamp = then + offset
            tracker.update(event)
        for target in (store, rasas_own):
            asyncio.run(target.save(tracker))
        rasas = SQLTrackerStore(domain=domain, dialect="sqlite", db=str(path))

        def rows(source: SQLTrackerStore) -> List[Dict[str, Any]]:
            with source.engine.connect() as connection:
                found = connection.exec_driver_sql(
                    "SELECT sender_id, type_name, timestamp, intent_name, action_name, data "
                    "FROM events ORDER BY id").mappings().all()
            return [{**found_row, "data": json.loads(found_row["data"])} for found_row in found]

        asyncio.run(store.save(asyncio.run(store.retrieve("checks"))))  # as read: nothing new
        written, rasas_rows = rows(store), rows(rasas_own)
        expected_data = redact_events([found_row["data"] for found_row in rasas_rows])

        def read(source: SQLTrackerStore) -> Dict[str, Any]:
            latest = asyncio.run(source.retrieve("checks"))
            full = asyncio.run(source.retrieve_full_tracker("checks"))
            with source.session_scope() as session:
                count = source._event_query(session, "checks",
                                            fetch_events_from_all_sessions=False).count()
            return {"latest": [e.as_dict() for e in latest.events],
                    "full": [e.as_dict() for e in full.events], "count": count}

        ours, stock = read(store), read(rasas)
        with store.engine.connect() as connection:
            journal = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
            synchronous = connection.exec_driver_sql("PRAGMA synchronous").scalar()
        return {"same": ours == stock, "full": len(ours["full"]), "latest": len(ours["latest"]),
                "same_columns": [{k: v for k, v in r.items() if k != "data"} for r in written]
                == [{k: v for k, v in r.items() if k != "data"} for r in rasas_rows],
                "rows": len(written), "redacted_as_rasas_rows": [r["data"] for r in written]
                == expected_data and "[redacted]" in json.dumps(expected_data),
                "count": ours["count"], "journal": journal, "synchronous": synchronous,
                "connections_opened": len(opened)}


@check
def endpoint_calls_reuse_one_connection() -> Dict[str, Any]:
    """Five calls to one endpoint: how many connections each way, and what the server saw."""
    from aiohttp import web
    from rasa.utils.endpoints import EndpointConfig

    async def calls() -> Dict[str, Any]:
        peers, seen, raw = set(), [], []

        async def handler(request: web.Request) -> web.Response:
            peers.add(request.transport.get_extra_info("peername")[1])
            seen.append({"token": request.query.get("token"),
                         "header": request.headers.get("X-Check"), "body": await request.json()})
            raw.append(await request.text())
            return web.json_response({"ok": len(seen)})

        app = web.Application()
        app.router.add_post("/webhook", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        endpoint = EndpointConfig(f"http://127.0.0.1:{port}/webhook", token="secret",
                                  headers={"X-Check": "yes"})
        # non-ASCII, a lone surrogate (JSON lets a customer send one) and a slash
        answers = [await endpoint.request(json={"n": n, "text": "café 😀 \ud800 1/2"})
                   for n in range(5)]
        await runner.cleanup()
        return {"connections": len(peers), "answers": answers, "seen": seen, "raw": raw[0]}

    serving.uninstall()
    stock = asyncio.run(calls())
    serving.install()
    ours = asyncio.run(calls())
    return {"stock_connections": stock["connections"], "connections": ours["connections"],
            "same": {k: v for k, v in stock.items() if k not in ("connections", "raw")}
            == {k: v for k, v in ours.items() if k not in ("connections", "raw")},
            "seen": ours["seen"][:1], "stock_raw": stock["raw"], "raw": ours["raw"]}


SETTLE_CHILD = """
import asyncio, gc, json
import numpy, rasa.core.run
from rasa.shared.utils.common import arguments_of
from threadpoolctl import threadpool_info
from rasa_ext import serving
stock_arguments = arguments_of(rasa.core.run.serve_application)
serving.install()
frozen_when_served = []
serving._STOCK["serve"] = lambda *_, **__: frozen_when_served.append(gc.get_freeze_count())
rasa.core.run.serve_application("model", channel="rest")
gc.unfreeze()
loaded = object()
async def load(*_, **__):
    return loaded
serving._STOCK["load_agent"] = load
before = gc.get_freeze_count()
agent = asyncio.run(rasa.core.run.load_agent_on_start("model", None, None, None, None))
numpy.ones((2, 2)) @ numpy.ones((2, 2))
print(json.dumps({"served_frozen": frozen_when_served,
                  "same_arguments": arguments_of(rasa.core.run.serve_application) == stock_arguments,
                  "agent": agent is loaded, "frozen_before": before,
                  "frozen_after": gc.get_freeze_count(),
                  "blas_threads": sorted({pool["num_threads"] for pool in threadpool_info()
                                          if pool["user_api"] == "blas"})}))
"""


@check
def each_server_process_settles_after_loading_its_model() -> Dict[str, Any]:
    """What `rasa run` gets: a heap frozen before Sanic forks its workers, and in each, once
    it has loaded the agent, one BLAS thread and a frozen heap again (in a fresh interpreter,
    so this one keeps its settings)."""
    import subprocess

    done = subprocess.run([sys.executable, "-c", SETTLE_CHILD], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    results = {name: run() for name, run in CHECKS.items()}
    sys.stdout.write("\n" + json.dumps(results) + "\n")


if __name__ == "__main__":
    main()
