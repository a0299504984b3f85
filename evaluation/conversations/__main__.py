"""`python -m evaluation.conversations [--only ID] [--flow FLOW]` (make eval-conversations).

A measurement: exits 0 whatever the scenarios' results; 2 when a scenario file is invalid, 3 when
the stack does not start.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from evaluation.conversations.scenarios import SCENARIO_DIR, ScenarioError, load_scenarios


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.conversations",
                                     description="Play the conversation scenarios and judge them.")
    parser.add_argument("--only", metavar="ID", help="play only the scenario with this id")
    parser.add_argument("--flow", metavar="FLOW", help="play only the scenarios of this flow")
    parser.add_argument("--scenarios", type=Path, default=SCENARIO_DIR, help=argparse.SUPPRESS)
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="run the stack in DIR and keep its logs and stores there")
    parser.add_argument("--validate-only", action="store_true",
                        help="check the scenario files and stop")
    args = parser.parse_args(argv)
    try:
        scenarios = load_scenarios(args.scenarios, only=args.only, flow=args.flow)
    except ScenarioError as error:
        print("The scenario files do not follow FORMAT.md:", file=sys.stderr)
        for problem in error.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    print(f"==> {len(scenarios)} scenarios valid", flush=True)
    if args.validate_only or not scenarios:
        return 0

    # Only now the heavy imports (the stack's helpers): validation needs none of them.
    from evaluation.conversations.report import printed_summary, write_reports
    from evaluation.conversations.runner import StackDidNotStart, print_progress, run_all

    started = time.monotonic()
    print("==> starting the embedded stack (demo profile, fresh store, Twilio fake)", flush=True)
    try:
        results = run_all(scenarios, progress=print_progress, work=args.keep)
    except StackDidNotStart as error:
        print(f"The stack did not start: {error}", file=sys.stderr)
        return 3
    md, js = write_reports(results)
    print(printed_summary(results))
    print(f"==> {md.relative_to(Path.cwd()) if md.is_relative_to(Path.cwd()) else md} and "
          f"{js.name} written ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
