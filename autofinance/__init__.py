"""Meridian Auto Finance servicing assistant: the business behind the Rasa actions.

Everything here runs without Rasa. The rooms, each importing only from those before it:
- `domain/`: pure rules (money, calendar, clock, masking, hours, parsing);
- `adapters/`: the outside world (the store, mail and SMS, hashing, sealing, tokens, Rasa's API);
- `services/`: the use cases, one module per topic, each a function over a unit of work;
- `entrypoints/`: the web app, the CLI and the launcher;
- `demo/`: the demo data, used only by the seed command and the demo portal page.
`config.py` reads every environment variable; `bootstrap.py` builds the store from it. The Rasa
action server (`actions/`) is a thin adapter over the services.
"""
