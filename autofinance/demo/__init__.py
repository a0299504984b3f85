"""The demo data (customers, accounts, staff): only the CLI's `seed` command, the demo portal page and tests may import it; no service or action does."""
