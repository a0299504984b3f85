"""The Rasa action server: thin adapters from conversation to the `autofinance` services.

Each module covers one topic. Every action that reads or changes account data derives from a
guarded base in `actions.runtime`, so verification is checked in one place.
"""
