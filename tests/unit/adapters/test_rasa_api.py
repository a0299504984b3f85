"""Reading a conversation for the console: who said what, and buttons as what was chosen."""
from __future__ import annotations

from datetime import datetime, timezone

from autofinance.adapters.rasa_api import AGENT_METADATA_KEY, transcript_lines


def test_the_transcript_keeps_what_was_said_in_order_and_tells_the_agent_apart() -> None:
    events = [
        {"event": "action", "name": "action_listen", "timestamp": 1.0},
        {"event": "user", "text": "talk to a person", "timestamp": 2.0},
        {"event": "bot", "text": "No one from our support team is available", "timestamp": 3.0},
        {"event": "slot", "name": "followup_method", "value": "email", "timestamp": 3.5},
        {"event": "user", "text": '/request_followup{"followup_method": "email"}', "timestamp": 4.0},
        {"event": "user", "text": "/affirm", "timestamp": 5.0},
        {"event": "bot", "text": "Hi, I'm Pat", "metadata": {AGENT_METADATA_KEY: "Pat"},
         "timestamp": 6.0},
        {"event": "bot", "text": "", "timestamp": 7.0},
    ]
    lines = transcript_lines(events)
    assert [(line.seq, line.sender, line.text) for line in lines] == [
        (1, "customer", "talk to a person"),
        (2, "assistant", "No one from our support team is available"),
        (4, "customer", "[button] request followup: email"),
        (5, "customer", "[button] affirm"),
        (6, "agent", "Hi, I'm Pat"),
    ]
    assert lines[-1].agent_name == "Pat" and lines[0].at == datetime.fromtimestamp(2.0, timezone.utc)


def test_text_that_only_looks_like_a_command_is_left_alone() -> None:
    lines = transcript_lines([{"event": "user", "text": "/ what? 50/50", "timestamp": 1.0},
                              {"event": "user", "text": "/broken{not json}", "timestamp": 2.0}])
    assert [line.text for line in lines] == ["/ what? 50/50", "[button] broken"]
