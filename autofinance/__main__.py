"""`python -m autofinance <command>`: see autofinance/entrypoints/cli.py."""
from autofinance.entrypoints.cli import main

raise SystemExit(main())
