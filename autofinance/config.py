"""The one place that reads the environment.

Every setting has a safe default for the embedded demo, so `make run` works on a fresh
machine; production deployments override them. Secrets are wrapped so that they never
appear in a repr, a log line or a traceback.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from autofinance.domain.hours import parse_hours

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Secret:
    """A string that hides itself when printed or logged."""

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def _support_hours(spec: str) -> str:
    parse_hours(spec)  # raises ValueError with an example: a typo stops the start-up
    return spec


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """Typed settings; build with `Settings.from_env()`."""

    profile: str = "demo"
    demo_mode: bool = True
    database_url: str = f"sqlite:///{PROJECT_ROOT / 'var' / 'meridian.db'}"
    rasa_url: str = "http://127.0.0.1:5005"
    widget_socket_url: str = "http://localhost:5005"  # Rasa's socket.io as the customer's browser sees it
    rasa_api_token: Secret = field(default_factory=lambda: Secret(""))
    action_server_token: Secret = field(default_factory=lambda: Secret("demo-action-secret"))
    action_server_port: int = 5055
    web_port: int = 8080
    web_host: str = "127.0.0.1"
    public_base_url: str = "http://localhost:8080"
    secret_pepper: Secret = field(default_factory=lambda: Secret("demo-pepper-change-me"))
    lender_timezone: str = "America/New_York"
    portal_jwt_algorithm: str = "HS256"
    portal_jwt_secret: Secret = field(default_factory=lambda: Secret("demo-portal-secret-change-me-in-production"))
    portal_jwt_public_key_file: str = ""  # PEM file, for RS256
    portal_jwt_private_key_file: str = ""  # PEM file, for RS256 issuing (the demo portal only)
    notifier: str = "outbox"
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_sender: str = "no-reply@meridian-auto.example"
    # When people answer, in the lender's time zone: "mon-fri 08:00-20:00, sat 09:00-14:00".
    # The demo is always staffed so that a hand-off can be tried at any hour.
    support_hours: str = "mon-sun 00:00-24:00"
    console_session_minutes: int = 480  # a console sign-in lasts one shift at most
    console_idle_minutes: int = 30  # and ends after this long without a request

    @property
    def secure_cookies(self) -> bool:
        """Cookies only over HTTPS once the public address is HTTPS (the demo runs on http)."""
        return self.public_base_url.startswith("https://")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        profile = env.get("ASSISTANT_PROFILE", "demo").strip().lower()
        if profile not in {"demo", "production"}:
            raise ValueError(f"ASSISTANT_PROFILE must be 'demo' or 'production', not {profile!r}")
        defaults = cls()
        web_port = int(env.get("WEB_PORT", defaults.web_port))
        return cls(
            profile=profile,
            demo_mode=_bool(env.get("DEMO_MODE", "true" if profile == "demo" else "false")),
            database_url=env.get("DATABASE_URL", defaults.database_url),
            rasa_url=env.get("RASA_URL", f"http://127.0.0.1:{env.get('RASA_PORT', '5005')}"),
            widget_socket_url=env.get("WIDGET_SOCKET_URL",
                                      f"http://localhost:{env.get('RASA_PORT', '5005')}"),
            rasa_api_token=Secret(env.get("RASA_API_TOKEN", "")),
            action_server_token=Secret(
                env.get("ACTION_SERVER_TOKEN", defaults.action_server_token.reveal())
            ),
            action_server_port=int(env.get("ACTION_SERVER_PORT", defaults.action_server_port)),
            web_port=web_port,
            web_host=env.get("WEB_HOST", defaults.web_host),
            public_base_url=env.get("PUBLIC_BASE_URL", f"http://localhost:{web_port}"),
            secret_pepper=Secret(env.get("SECRET_PEPPER", defaults.secret_pepper.reveal())),
            lender_timezone=env.get("LENDER_TIMEZONE", defaults.lender_timezone),
            portal_jwt_algorithm=env.get("PORTAL_JWT_ALGORITHM", defaults.portal_jwt_algorithm),
            portal_jwt_secret=Secret(env.get("PORTAL_JWT_SECRET", defaults.portal_jwt_secret.reveal())),
            portal_jwt_public_key_file=env.get("PORTAL_JWT_PUBLIC_KEY_FILE", ""),
            portal_jwt_private_key_file=env.get("PORTAL_JWT_PRIVATE_KEY_FILE", ""),
            notifier=env.get("NOTIFIER", defaults.notifier),
            smtp_host=env.get("SMTP_HOST", defaults.smtp_host),
            smtp_port=int(env.get("SMTP_PORT", defaults.smtp_port)),
            smtp_sender=env.get("SMTP_SENDER", defaults.smtp_sender),
            support_hours=_support_hours(env.get("SUPPORT_HOURS", defaults.support_hours)),
            console_session_minutes=int(
                env.get("CONSOLE_SESSION_MINUTES", defaults.console_session_minutes)
            ),
            console_idle_minutes=int(env.get("CONSOLE_IDLE_MINUTES", defaults.console_idle_minutes)),
        )
