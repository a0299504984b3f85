"""`rasa run` without work Rasa 3.6.21 repeats: `python -m rasa_ext.serving run <rasa run args>`.

Measured on our assistant (a 14-message servicing conversation, 2 cores). At start:
- Rasa builds each TensorFlow model (DIET, ResponseSelector, TED) by training it one step, then
  overwrites every weight from the checkpoint. The traced training step stays in memory: 900 of
  the server's 1,500 MB. Here a model is built by its first prediction instead and every weight
  comes from the same checkpoint as it is created (TensorFlow restores on creation); a model
  with any weight the checkpoint does not give is loaded Rasa's way. Same weights, same
  predictions (2,411 training texts parsed and 252 dialogue predictions compared: identical).
Per message:
- every custom-action answer is checked with `jsonschema.validate`, which first validates the
  events schema against the draft 2020-12 meta-schema: about 30 ms of CPU per action call, more
  than NLU and dialogue prediction together. Here the validator is built (and the schema checked)
  once; each answer is still validated against the same schema, with the same errors. A valid
  answer's events are each checked against the one event type they name, not all 28 of the
  schema's `oneOf`; only an answer that fails is checked Rasa's way, for Rasa's error.
- `Event.resolve_by_type` walks every subclass of `Event` for each event it deserialises: most
  of the cost of rebuilding a tracker from the store (6.7 ms of 7.2 for 130 events) and of reading
  each action's answer. Here a type name is looked up once.
- every call to the action server (and any other endpoint) opens a new aiohttp session and a
  new connection, and closes both: about a tenth of Rasa's CPU under load. Here each endpoint
  keeps one session per event loop, whose connections are reused while idle for less than
  KEEPALIVE_SECONDS (shorter than the 5 s after which Sanic closes an idle connection, so a
  request never goes out on a connection the server is closing).
- every tracker made (one per read from the store, and one more each time the past states are
  replayed) copies every slot of the domain with `copy.copy`, which goes through the pickle
  protocol: 5 % of Rasa's CPU with our 33 slots. Here a slot copies itself directly, into the
  same result (a new slot of the same class sharing the same attribute values).
- the rule policy checks each of its rules (531 here, at most 5 turns long) against the
  latest turn, then the rules left against every earlier turn back to the conversation's
  start, although a rule is satisfied by any turn further back than its own length: a tenth
  of Rasa's CPU per message. Here the latest turn is checked only against the rules that
  follow the same action (or name none), and the walk back stops once it is past the longest
  rule left; the same rules are found.
- the events that count (`applied_events`: without those undone by a rewind, a restart or a
  form's next turn) are worked out from the conversation's start on every call, several times
  a message (each prediction's past states, the session check): a tenth of Rasa's CPU. Here a
  tracker remembers the answer for the events it had, and a later call carries on from there
  with the events added since; from the start again if a new form appeared, or the events are
  not the same ones plus more.
- one prediction asks the tracker for its past states four times (memoization, rule policy
  twice, TED), replaying the whole conversation each time, with two different sets of
  arguments. Within one prediction the tracker does not change, so each distinct question is
  answered once and every caller gets its own copy (callers edit the states they get).

Each process, once its model is loaded, uses one BLAS thread and freezes its heap out of the
garbage collector's reach; the heap is frozen before Sanic forks its workers too (see
`settle_process` and `_serve_from_a_frozen_heap`). Action calls are written by ujson.

The conversation, the predictions and the replies are the same; only repeated work is gone.
Two behaviours are added on purpose, installed from here so that every server gets them: a
message that only points at a button just offered ("2", "the second one") is read as that
button's press (`rasa_ext/references.py`), and a customer whose message meets a dependency that
is down hears an apology, not silence (`rasa_ext/resilience.py`).
Each patch is tied to the Rasa version it was written against: on any other, none is applied.
"""
from __future__ import annotations

import asyncio
import contextvars
import ctypes
import functools
import gc
import itertools
import logging
import signal
import sys
from typing import Any, Dict, FrozenSet, Iterable, List, Optional, Set, Text, Tuple, Type

import aiohttp
import rasa
import rasa.core.run
import ujson
from jsonschema import ValidationError, validators
from jsonschema.exceptions import best_match
from rasa.core.actions.action import RemoteAction
from rasa.core.policies.rule_policy import RulePolicy
from rasa.shared.core.constants import PREVIOUS_ACTION, SHOULD_NOT_BE_SET
from rasa.shared.nlu.constants import ACTION_NAME
from rasa.core.processor import MessageProcessor
from rasa.shared.constants import DOCS_BASE_URL
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (ActionExecuted, ActionReverted, ActiveLoop, Event, Restarted,
                                     SessionStarted, UserUttered, UserUtteranceReverted)
from rasa.shared.core.slots import Slot
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import DEFAULT_REQUEST_TIMEOUT, EndpointConfig
from rasa.utils.tensorflow.models import RasaModel
from threadpoolctl import threadpool_limits

from rasa_ext import references, resilience
from rasa_ext.redaction import json_copy

logger = logging.getLogger(__name__)

PATCHED_RASA_VERSION = "3.6.21"
PR_SET_PDEATHSIG = 1
State = Dict[Text, Any]
_STOCK: Dict[Text, Any] = {}


def install() -> bool:
    """Applies the patches once; False (and nothing changed) on another Rasa version."""
    if rasa.__version__ != PATCHED_RASA_VERSION:
        logger.warning("rasa_ext.serving: written for Rasa %s, found %s: serving unpatched",
                       PATCHED_RASA_VERSION, rasa.__version__)
        return False
    references.install()  # a typed "2" after buttons read as a press of the second
    resilience.install()  # an apology, not silence, while a dependency is down
    if _STOCK:
        return True
    _STOCK.update(validate=RemoteAction._validate_action_result,
                  resolve=Event.__dict__["resolve_by_type"],
                  past_states=DialogueStateTracker.past_states,
                  predict=MessageProcessor._predict_next_with_tracker,
                  possible_keys=RulePolicy._get_possible_keys,
                  applied=DialogueStateTracker.applied_events,
                  load=RasaModel.__dict__["load"],
                  session=EndpointConfig.session,
                  slot_copy=Slot.__dict__.get("__copy__"),
                  load_agent=rasa.core.run.load_agent_on_start,
                  serve=rasa.core.run.serve_application)
    rasa.core.run.load_agent_on_start = _load_agent_then_settle
    rasa.core.run.serve_application = _serve_from_a_frozen_heap
    Slot.__copy__ = _copy_slot  # type: ignore[attr-defined]
    EndpointConfig.session = _kept_session  # type: ignore[assignment]
    RasaModel.load = classmethod(_load_for_inference)  # type: ignore[assignment]
    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[assignment]
    Event.resolve_by_type = staticmethod(_resolve_by_type)  # type: ignore[assignment]
    DialogueStateTracker.past_states = _past_states  # type: ignore[assignment]
    MessageProcessor._predict_next_with_tracker = _predict_next_with_tracker  # type: ignore[assignment]
    RulePolicy._get_possible_keys = _get_possible_keys  # type: ignore[assignment]
    DialogueStateTracker.applied_events = _applied_events  # type: ignore[assignment]
    return True


def uninstall() -> None:
    """Puts Rasa's own methods back (for tests comparing both)."""
    references.uninstall()
    resilience.uninstall()
    if not _STOCK:
        return
    RemoteAction._validate_action_result = _STOCK["validate"]  # type: ignore[assignment]
    Event.resolve_by_type = _STOCK["resolve"]  # type: ignore[assignment]
    DialogueStateTracker.past_states = _STOCK["past_states"]  # type: ignore[assignment]
    MessageProcessor._predict_next_with_tracker = _STOCK["predict"]  # type: ignore[assignment]
    RulePolicy._get_possible_keys = _STOCK["possible_keys"]  # type: ignore[assignment]
    DialogueStateTracker.applied_events = _STOCK["applied"]  # type: ignore[assignment]
    RasaModel.load = _STOCK["load"]  # type: ignore[assignment]
    EndpointConfig.session = _STOCK["session"]  # type: ignore[assignment]
    rasa.core.run.load_agent_on_start = _STOCK["load_agent"]
    rasa.core.run.serve_application = _STOCK["serve"]
    if _STOCK["slot_copy"] is None:
        del Slot.__copy__  # type: ignore[attr-defined]
    else:
        Slot.__copy__ = _STOCK["slot_copy"]  # type: ignore[attr-defined]
    _STOCK.clear()
    _event_types.clear()


# --- Each server process: frozen before the workers fork, settled once its model is loaded ---


def _serve_from_a_frozen_heap(*args: Any, **kwargs: Any) -> Any:
    """Freezes what the process imported before Sanic starts its workers by forking it: the
    workers then share those pages with it, and their garbage collections never write to
    (and so copy) them: with two workers, Rasa's memory (shared pages counted once) went
    from 981 to 790 MB."""
    _freeze_heap()
    return _STOCK["serve"](*args, **kwargs)


# Rasa passes serve_application only the arguments its signature names: show it Rasa's
_serve_from_a_frozen_heap.__wrapped__ = rasa.core.run.serve_application  # type: ignore[attr-defined]


async def _load_agent_then_settle(*args: Any, **kwargs: Any) -> Any:
    _die_with_parent()
    agent = await _STOCK["load_agent"](*args, **kwargs)
    settle_process()
    return agent


def _die_with_parent() -> None:
    """This process (a Sanic worker, or a lone server) gets SIGKILL when its parent dies, so
    a killed Rasa never leaves workers holding its port (Linux's parent-death signal)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux
        pass


def settle_process() -> None:
    """Two settings for a process that serves messages one at a time on one core.

    BLAS gets one thread. Our classifier multiplies the sentence embedding by its weights
    (a BLAS call), after which OpenBLAS keeps its extra thread spinning for more work: a
    second core burnt, taken from the other Sanic worker (1.6 cores per Rasa process measured
    under load, against 1.0 with one BLAS thread, at the same speed).

    Everything loaded so far is moved out of the garbage collector's reach. A loaded Rasa
    holds millions of long-lived objects (TensorFlow's modules, the domain, the model) that
    every full collection walked again (a tenth of the server's CPU under load). Frozen
    objects are never collected: a model replaced through Rasa's HTTP API (`PUT /model`)
    would leave its cyclic garbage behind, so models change by restarting the server, as
    `make run` and the deployment files do.
    """
    threadpool_limits(limits=1, user_api="blas")
    _freeze_heap()


def _freeze_heap() -> None:
    """Collects what is garbage now, then moves every object left out of the collector's reach."""
    gc.collect()
    gc.freeze()


# --- TensorFlow models: built by a prediction, not by a training step -----------------------


def _load_for_inference(cls: Type[RasaModel], model_file_name: Text, model_data_example: Any,
                        predict_data_example: Any = None, finetune_mode: bool = False,
                        *args: Any, **kwargs: Any) -> RasaModel:
    """`RasaModel.load` for serving: every weight from the checkpoint, no optimizer, no training."""
    def rasas_way() -> RasaModel:
        return _STOCK["load"].__func__(cls, model_file_name, model_data_example,
                                       predict_data_example, finetune_mode, *args, **kwargs)

    if finetune_mode or predict_data_example is None:
        return rasas_way()
    model = cls(*args, **kwargs)
    status = model.load_weights(model_file_name)  # weights created later are restored then
    model.run_inference(predict_data_example)  # creates every weight a prediction uses
    try:
        status.assert_existing_objects_matched()
    except (AssertionError, AttributeError) as error:  # AttributeError: not a TF checkpoint
        logger.warning("%s: loaded Rasa's way, its weights do not all come from the "
                       "checkpoint: %s", cls.__name__, error)
        return rasas_way()
    status.expect_partial()  # the optimizer's slots stay in the file: nothing will train
    return model


# --- endpoint calls: one HTTP session per endpoint and event loop ----------------------------

KEEPALIVE_SECONDS = 2.0


class _KeptSession:
    """What `async with endpoint.session() as session:` gets: a shared session it must not close."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    async def __aenter__(self) -> aiohttp.ClientSession:
        return self._session

    async def __aexit__(self, *exc_info: Any) -> None:
        return None


def _kept_session(self: EndpointConfig) -> Any:
    """`EndpointConfig.session`, kept open and reused for the endpoint's later calls on the same
    event loop (each Sanic worker has its own); outside a running loop, Rasa's own."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return _STOCK["session"](self)
    sessions = self.__dict__.setdefault("_meridian_sessions", {})
    session = sessions.get(loop)
    if session is None or session.closed:  # as Rasa builds it, with a keep-alive limit
        auth = (aiohttp.BasicAuth(self.basic_auth["username"], self.basic_auth["password"])
                if self.basic_auth else None)
        session = aiohttp.ClientSession(
            headers=self.headers, auth=auth,
            timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
            connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_SECONDS),
            json_serialize=_json_text)
        sessions[loop] = session
    return _KeptSession(session)


def _json_text(value: Any) -> str:
    """A request body as JSON text: ujson (Rasa depends on it) writes a custom-action call,
    the whole conversation so far, three times faster than `json.dumps`, to the same JSON."""
    return ujson.dumps(value, escape_forward_slashes=False)  # ensure_ascii by default, as json's


# --- custom-action answers: one validator ---------------------------------------------------


@functools.lru_cache(maxsize=1)
def response_validator() -> Any:
    """The validator of `RemoteAction.action_response_format_spec()`, its schema checked once."""
    schema = RemoteAction.action_response_format_spec()
    validator_class = validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


@functools.lru_cache(maxsize=1)
def event_validators() -> Tuple[Any, Dict[Text, Any]]:
    """The answer's schema split for a quick check: the answer without its events' `oneOf`,
    and one validator per event type (the common event schema and that type's own). Each
    type's schema names its `event` as a constant, so an event meets exactly one of the
    `oneOf` schemas exactly when it meets the one its `event` names."""
    response_validator()  # the whole schema, checked once: the parts below are its own
    schema = RemoteAction.action_response_format_spec()
    validator_class = validators.validator_for(schema)
    events = schema["properties"]["events"]
    event = events["items"]
    common = {key: value for key, value in event.items() if key != "oneOf"}
    answer = {**schema, "properties": {**schema["properties"],
                                       "events": {**events, "items": common}}}
    by_type = {kind["properties"]["event"]["const"]: validator_class({"allOf": [common, kind]})
               for kind in event["oneOf"]}
    return validator_class(answer), by_type


def _quickly_valid(result: Any) -> bool:
    """True only for an answer the whole schema accepts; False sends it to the full check."""
    answer, by_type = event_validators()
    if not answer.is_valid(result):
        return False
    for event in result.get("events") or ():
        kind = event.get("event")
        validator = by_type.get(kind) if isinstance(kind, str) else None
        if validator is None or not validator.is_valid(event):
            return False
    return True


def _validate_action_result(self: RemoteAction, result: Dict[Text, Any]) -> bool:
    """Rasa's check of an action server's answer: a valid answer is recognised by the quick
    check (a fifth of the full one's cost); any other gets the full check and its errors."""
    if _quickly_valid(result):
        return True
    error: Optional[ValidationError] = best_match(response_validator().iter_errors(result))
    if error is not None:
        error.message += (
            f". Failed to validate Action server response from API, "
            f"make sure your response from the Action endpoint is valid. "
            f"For more information about the format visit "
            f"{DOCS_BASE_URL}/custom-actions"
        )
        raise error
    return True


# --- event deserialisation: type names looked up once ---------------------------------------

_event_types: Dict[Text, Type[Event]] = {}


def _resolve_by_type(type_name: Text,
                     default: Optional[Type[Event]] = None) -> Optional[Type[Event]]:
    """`Event.resolve_by_type`, remembering each event class found (not defaults, not misses)."""
    known = _event_types.get(type_name)
    if known is not None:
        return known
    found = _STOCK["resolve"].__func__(type_name, default)
    if found is not None and found is not default:
        _event_types[type_name] = found
    return found


def _copy_slot(self: Slot) -> Slot:
    """`copy.copy(slot)`: a new slot of the same class whose attributes are the same objects."""
    copied = self.__class__.__new__(self.__class__)
    copied.__dict__.update(self.__dict__)
    return copied


# --- one prediction: each distinct past-states question answered once ----------------------

StatesKey = Tuple[int, bool, bool, Any]
_prediction_states: contextvars.ContextVar[Optional[Dict[StatesKey, Tuple[Any, ...]]]] = (
    contextvars.ContextVar("meridian_prediction_states", default=None))


def _predict_next_with_tracker(self: MessageProcessor, tracker: DialogueStateTracker) -> Any:
    """Rasa's prediction, with a states cache that lives exactly as long as this one call."""
    token = _prediction_states.set({})
    try:
        return _STOCK["predict"](self, tracker)
    finally:
        _prediction_states.reset(token)


def _past_states(self: DialogueStateTracker, domain: Domain, omit_unset_slots: bool = False,
                 ignore_rule_only_turns: bool = False,
                 rule_only_data: Optional[Dict[Text, Any]] = None) -> List[State]:
    """`DialogueStateTracker.past_states`, answered from the running prediction's cache."""
    cache = _prediction_states.get()
    if cache is None:  # outside a prediction (training, tests, the HTTP API): Rasa's own
        return _STOCK["past_states"](self, domain, omit_unset_slots, ignore_rule_only_turns,
                                     rule_only_data)
    key = (id(self), omit_unset_slots, ignore_rule_only_turns, _frozen(rule_only_data))
    entry = cache.get(key)
    # the entry keeps the tracker and domain alive (ids stay theirs) and notes the events seen
    if entry is None or entry[0] is not self or entry[1] is not domain or entry[2] != _mark(self):
        states = _STOCK["past_states"](self, domain, omit_unset_slots, ignore_rule_only_turns,
                                       rule_only_data)
        entry = (self, domain, _mark(self), states)
        cache[key] = entry
    return json_copy(entry[3])  # states: dicts of dicts of strings and tuples


def _mark(tracker: DialogueStateTracker) -> Tuple[int, int]:
    """What would show that the tracker changed: its event count and its latest event."""
    events = tracker.events
    return len(events), id(events[-1]) if events else 0


def _frozen(rule_only_data: Optional[Dict[Text, Any]]) -> Any:
    if rule_only_data is None:
        return None
    return tuple(sorted((name, tuple(values)) for name, values in rule_only_data.items()))


# --- the events that count: carried on from the last answer --------------------------------

_APPLIED = "_meridian_applied"


def _applied_events(self: DialogueStateTracker) -> List[Event]:
    """`DialogueStateTracker.applied_events`, carried on from the events this tracker had at its
    last call when they are still its first events (the same objects) and no new form came."""
    events = self.events
    memo = self.__dict__.get(_APPLIED)
    if memo is not None and memo[0] is events and events.maxlen is None and memo[1] <= len(events) \
            and (memo[1] == 0 or events[memo[1] - 1] is memo[2]):
        added = list(itertools.islice(events, memo[1], None))
        if not any(isinstance(e, ActiveLoop) and e.name and e.name not in memo[3] for e in added):
            applied = list(memo[4])
            _apply_events(self, added, applied, memo[3])
            self.__dict__[_APPLIED] = (events, len(events), events[-1] if events else None, memo[3],
                                       applied)
            return list(applied)
    loop_names = frozenset(e.name for e in events if isinstance(e, ActiveLoop) and e.name)
    applied = []
    _apply_events(self, events, applied, loop_names)
    self.__dict__[_APPLIED] = (events, len(events), events[-1] if events else None, loop_names,
                               applied)
    return list(applied)


def _apply_events(tracker: DialogueStateTracker, events: Iterable[Event], applied: List[Event],
                  loop_names: FrozenSet[Text]) -> None:
    """Rasa's loop body of `applied_events` (3.6.21), on `applied` in place."""
    for event in events:
        if isinstance(event, (Restarted, SessionStarted)):
            applied.clear()
        elif isinstance(event, ActionReverted):
            tracker._undo_till_previous(ActionExecuted, applied)
        elif isinstance(event, UserUtteranceReverted):
            tracker._undo_till_previous(UserUttered, applied)
            tracker._undo_till_previous(ActionExecuted, applied)
        elif (isinstance(event, ActionExecuted) and event.action_name in loop_names
              and not tracker._first_loop_execution_or_unhappy_path(event.action_name, applied)):
            tracker._undo_till_previous_loop_execution(event.action_name, applied)
        else:
            applied.append(event)


# --- the rule policy: rules looked up by their last turn's action; the walk back stops early --


def _get_possible_keys(self: RulePolicy, lookup: Dict[Text, Text],
                       states: List[State]) -> Set[Text]:
    """`RulePolicy._get_possible_keys`: the rules applicable to the conversation's states.

    Rasa's tries every rule against the latest turn, then keeps filtering with every earlier
    turn. Here the latest turn is tried only on the rules whose last turn follows the same
    action (or names none): any other rule fails `_is_rule_applicable` there anyway. And
    since that holds for every turn at or beyond a rule's length, the walk back stops once it
    is that far back for every rule left: no earlier turn could remove one.
    """
    possible_keys: Set[Text] = set()
    for turn, state in enumerate(reversed(states)):
        if turn == 0:
            possible_keys = {key for key in _rules_after(lookup, state)
                             if self._is_rule_applicable(key, 0, state)}
            continue
        if turn >= max((len(self._rule_key_to_state(key)) for key in possible_keys), default=0):
            break
        possible_keys = {key for key in possible_keys
                         if self._is_rule_applicable(key, turn, state)}
    return possible_keys


_RuleIndex = Tuple[int, Dict[Optional[Text], Set[Text]]]
_rule_indexes: Dict[int, Tuple[Dict[Text, Text], _RuleIndex]] = {}


def _rules_after(lookup: Dict[Text, Text], state: State) -> Set[Text]:
    """The rules that could apply after the action that led to `state`: those whose last
    turn names that same previous action, and those that name none."""
    entry = _rule_indexes.get(id(lookup))
    if entry is None or entry[0] is not lookup or entry[1][0] != len(lookup):
        index: Dict[Optional[Text], Set[Text]] = {}
        for key in lookup:
            index.setdefault(_last_action(RulePolicy._rule_key_to_state(key)[-1]), set()).add(key)
        entry = (lookup, (len(lookup), index))
        _rule_indexes[id(lookup)] = entry
    index = entry[1][1]
    action = _last_action(state)
    if action is None:
        return set(lookup)  # nothing to narrow by: every rule is tried, as Rasa does
    return index.get(action, set()) | index.get(None, set())


def _last_action(state: State) -> Optional[Text]:
    """The action name a state's previous action names, None when it names none: a rule state
    that names one matches only a conversation state naming the same (`_does_rule_match_state`)."""
    name = state.get(PREVIOUS_ACTION, {}).get(ACTION_NAME)
    return name if isinstance(name, str) and name and name != SHOULD_NOT_BE_SET else None


def main() -> None:
    """Rasa's command line (`run ...`), with the patches installed first."""
    install()
    from rasa.__main__ import main as rasa_main

    sys.argv[0] = "rasa"
    rasa_main()


if __name__ == "__main__":
    main()
