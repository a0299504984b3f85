"""Meridian Auto Finance servicing assistant: the business behind the Rasa actions.

Everything here runs without Rasa: the account store, the services (one module per
topic) and the web app. The Rasa action server is a thin adapter over these services.
"""
