"""The support console: queue, tickets, live transcript, reply, notes, resolve/close, metrics.

The rules live in `services.console`; this package only asks `auth` who is signed in, checks
CSRF on every POST, turns service errors into JSON `{"error": ...}` with a status, and talks to
Rasa. By role: `pages` (HTML), `api` (JSON), `feed` (the websocket), `chart` (SVG geometry),
`auth` (sign-in, session cookie, CSRF), `limiter` (sign-in attempts per address). Customer text
reaches the browser as JSON or autoescaped HTML only.
"""
