"""Loads the trained model Rasa's way and `rasa_ext.serving`'s way, in Rasa's Python, and prints
whether both understand and predict alike. Run by `tests/e2e/test_serving_model.py`."""
from __future__ import annotations

import asyncio
import gc
import json
import logging
import sys
from pathlib import Path
from typing import Any, Dict, List

import yaml
from rasa.core.agent import Agent
from rasa.shared.core.events import ActionExecuted, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.common import configure_logging_and_warnings

from rasa_ext import serving

ROOT = Path(__file__).resolve().parents[2]


def training_texts(limit: int) -> List[str]:
    texts: List[str] = []
    for path in sorted((ROOT / "data" / "nlu").glob("*.yml")):
        for item in (yaml.safe_load(path.read_text()) or {}).get("nlu", []):
            examples = item.get("examples")
            if isinstance(examples, str):
                texts += [line[2:].strip() for line in examples.splitlines() if line.startswith("- ")]
    return texts[::max(1, len(texts) // limit)][:limit]


async def understand(model: Path, texts: List[str]) -> Dict[str, Any]:
    agent = Agent.load(str(model))
    parsed, predicted = [], []
    for text in texts:
        parse = await agent.parse_message(text)
        parsed.append(parse)
        tracker = DialogueStateTracker.from_events("check", [
            SessionStarted(), ActionExecuted("action_listen"),
            UserUttered(text, parse["intent"], parse["entities"], parse)], agent.domain.slots)
        prediction = agent.processor._predict_next_with_tracker(tracker)
        predicted.append([prediction.max_confidence_index, prediction.probabilities])
    return {"parsed": parsed, "predicted": predicted}


def main() -> None:
    configure_logging_and_warnings(logging.WARNING)
    model, texts = Path(sys.argv[1]), training_texts(int(sys.argv[2]))
    rasas = asyncio.run(understand(model, texts))
    gc.collect()
    installed = serving.install()
    ours = asyncio.run(understand(model, texts))
    same = [json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)
            for a, b in zip(rasas["parsed"] + rasas["predicted"], ours["parsed"] + ours["predicted"])]
    sys.stdout.write("\n" + json.dumps({"installed": installed, "texts": len(texts),
                                        "compared": len(same), "identical": sum(same)}) + "\n")


if __name__ == "__main__":
    main()
