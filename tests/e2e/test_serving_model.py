"""The model loaded for serving (no training step, `rasa_ext.serving`) understands and predicts
exactly as the model Rasa loads itself: same intents, entities, confidences, next actions."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from autofinance.entrypoints.stack import MODEL_PATH, PROJECT_ROOT, RASA_PYTHON

pytestmark = pytest.mark.e2e
CHECK = Path(__file__).with_name("serving_model_check.py")


def test_the_served_model_parses_and_predicts_as_rasas_own() -> None:
    if not MODEL_PATH.exists():
        pytest.fail(f"no trained model at {MODEL_PATH}: run 'make train' (make test does it first)")
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "RASA_TELEMETRY_ENABLED": "false"}
    done = subprocess.run([str(RASA_PYTHON), str(CHECK), str(MODEL_PATH), "300"], cwd=PROJECT_ROOT,
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["installed"] and result["texts"] == 300
    assert result["identical"] == result["compared"] == 600  # 300 parses, 300 predictions
