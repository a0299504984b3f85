"""Adapters to the outside (the store, mail and SMS, hashing and sealing, tokens, Rasa's API): imported by services, entry points and the bootstrap; they import only the domain and the config."""
