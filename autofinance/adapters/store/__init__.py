"""The account store: typed SQLAlchemy 2.x models, engine set-up and the unit of work."""
