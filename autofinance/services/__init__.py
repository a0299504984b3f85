"""Business services: one module per topic, each a set of functions over a unit of work."""
