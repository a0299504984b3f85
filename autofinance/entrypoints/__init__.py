"""Entry points (the web app, the CLI, the launcher): they call services and adapters; nothing imports them but tests."""
