"""The aiohttp web app: the demo portal page, the dev outbox, and (later) the support console."""
