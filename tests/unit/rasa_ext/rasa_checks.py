"""Runs a checks script in Rasa's environment (the app environment has no Rasa) and returns
the JSON it prints on its last line; skips when that environment is missing."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from autofinance.entrypoints.stack import PROJECT_ROOT, RASA_PYTHON


def run_in_rasa(script: Path) -> dict[str, Any]:
    if not RASA_PYTHON.exists():
        pytest.skip(f"no Rasa environment at {RASA_PYTHON}: run `make envs`")
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "RASA_TELEMETRY_ENABLED": "false"}
    done = subprocess.run([str(RASA_PYTHON), str(script)], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
