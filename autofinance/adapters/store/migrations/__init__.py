"""Alembic migrations for the account store, shipped inside the package (see store/migrate.py)."""
