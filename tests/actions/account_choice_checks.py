"""Run in Rasa's environment by test_account_choice_actions.py: the domain's account choice slot
after /restart and after a new session. Prints JSON on its last line."""
from __future__ import annotations

import json

from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Restarted, SessionStarted, SlotSet
from rasa.shared.core.trackers import DialogueStateTracker

from autofinance.entrypoints.stack import PROJECT_ROOT

domain = Domain.load(str(PROJECT_ROOT / "domain.yml"))
result = {}
tracker = DialogueStateTracker.from_events("c", [SlotSet("account_choice", "42")], domain.slots)
result["before"] = tracker.get_slot("account_choice")
tracker.update(Restarted(), domain)
result["after_restart"] = tracker.get_slot("account_choice")
tracker.update(SlotSet("account_choice", "42"), domain)
assert not domain.session_config.carry_over_slots
tracker.update(SessionStarted(), domain)
result["after_new_session"] = tracker.get_slot("account_choice")
print(json.dumps(result))
