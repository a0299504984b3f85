"""`python -m autofinance <command>`: see autofinance/cli.py."""
from autofinance.cli import main

raise SystemExit(main())
