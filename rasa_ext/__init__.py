"""Extensions loaded by the Rasa server itself (the Rasa environment: SQLAlchemy 1.4, aiohttp<3.10).

Nothing here imports the `autofinance` package, which lives in the app environment.
"""
