"""The one place that reads the environment.

`VARIABLES` lists every environment variable the project reads, with its type, its default and
what it does: ours (`Settings.from_env`, for the action server, the web app and the CLI), those
the launcher reads (autofinance/entrypoints/stack.py), those the Rasa YAML files read
(endpoints.yml, deploy/endpoints.production.yml, credentials.yml: `rasa_environment`, which the
launcher and the Makefile's rasa commands give Rasa) and the messaging channels' ones
(deploy/messaging-channels.yml). The README's configuration table is printed from it
(`python -m autofinance.config table`).

Every setting has a safe default for the embedded demo, so `make run` works on a fresh machine.
The production profile (ASSISTANT_PROFILE=production) has no demo secret: it refuses to start
while a secret is missing, a published demo value, or shorter than MIN_SECRET_LENGTH. Secrets
are wrapped so that they never appear in a repr, a log line or a traceback.

    python -m autofinance.config rasa-env              NAME=value lines of the Rasa YAML variables
    python -m autofinance.config rasa-env -- CMD ...   runs CMD with them (the Makefile's rasa commands)
    python -m autofinance.config table                 the README's table of every variable
"""
from __future__ import annotations

import ipaddress
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional, Sequence

from autofinance.domain.hours import parse_hours
from autofinance.domain.reminders import ReminderPolicy, parse_window

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROFILES = ("demo", "production")
# A production secret shorter than this is refused: 16 characters of token_urlsafe are 96 bits.
MIN_SECRET_LENGTH = 16
MAX_DEFAULT_WORKERS = 4  # Rasa worker processes by default: one per core up to this
SECRET_HINT = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"

# Who reads a variable.
APP = "app"  # Settings.from_env: the action server, the web app, the CLI
LAUNCHER = "launcher"  # autofinance/entrypoints/stack.py, which also gives it to every service
RASA = "rasa"  # the Rasa YAML files (${NAME}), filled in by the launcher / `rasa-env`
MESSAGING = "messaging"  # deploy/messaging-channels.yml: a channel is on when all its are set

# Types.
TEXT, NUMBER, FLAG, SECRET, CHOICE, HOURS = "text", "whole number", "true/false", "secret", "choice", "hours"
NUMBER_LIST, SOME_OF = "whole numbers", "some of"
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


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


class ConfigError(ValueError):
    """Settings that must not start: one line naming every offending variable."""

    def __init__(self, problems: Sequence[str], variables: Sequence[str] = ()) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)
        self.variables = list(variables)  # the names of the offending variables


@dataclass(frozen=True)
class Variable:
    """One environment variable. A default may name others: "http://127.0.0.1:{RASA_PORT}"
    ({PROJECT_ROOT} is this checkout)."""

    name: str
    default: str
    meaning: str
    type: str = TEXT
    read_by: tuple[str, ...] = (APP,)
    production_default: Optional[str] = None  # when the production profile's default differs
    production: str = ""  # what to know in production (the README's column)
    choices: tuple[str, ...] = ()
    blank_is_unset: bool = False  # an empty value means the default
    store_host: str = ""  # a store's password: its host's variable (see production_problems)
    optional: bool = False  # a secret that may be left empty (it then turns its feature off)

    def default_for(self, profile: str) -> str:
        if profile == "production" and self.production_default is not None:
            return self.production_default
        return self.default


def _vars(*variables: Variable) -> dict[str, Variable]:
    return {v.name: v for v in variables}


_STORE_PASSWORD = ("refused unless the store runs on this machine (loopback host): set the store's "
                   f"real password, at least {MIN_SECRET_LENGTH} characters")
_CHANNEL = "(Rasa) messaging channel, on when all its variables are set: README, Messaging channels"
VARIABLES: dict[str, Variable] = _vars(
    # The profile
    Variable("ASSISTANT_PROFILE", "demo", "`demo` (embedded SQLite tracker store, in-memory lock) or "
             "`production` (`deploy/endpoints.production.yml`: PostgreSQL tracker store, Redis lock "
             "store, RabbitMQ event broker)", CHOICE, (APP, LAUNCHER, RASA), choices=PROFILES,
             production="`production` refuses to start with a missing, demo or short secret"),
    Variable("DEMO_MODE", "true", "the demo's helpers: `/dev/outbox` and `/dev/outbox.json` (otherwise 404), the portal "
             "page's \"Sign in as\", the demo agent's short TOTP secret", FLAG, production_default="false",
             production="`false` (its default there)"),
    Variable("LOG_LEVEL", "INFO", "log level of the action server and the web app", CHOICE,
             choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
             production="never `DEBUG`: it logs raw text"),
    # Where each service listens and how they reach one another
    Variable("RASA_PORT", "5005", "Rasa's port", NUMBER, (APP, LAUNCHER)),
    Variable("ACTION_SERVER_PORT", "5055", "the action server's port", NUMBER, (APP, LAUNCHER)),
    Variable("ACTION_SERVER_HOST", "127.0.0.1", "the address the action server listens on",
             production="the app image sets `0.0.0.0`"),
    Variable("ACTION_SERVER_SANIC_WORKERS", "1", "action server worker processes", NUMBER),
    Variable("WEB_PORT", "8080", "the web app's port", NUMBER, (APP, LAUNCHER)),
    Variable("WEB_HOST", "127.0.0.1", "the address the web app listens on",
             production="the app image sets `0.0.0.0`"),
    Variable("RASA_URL", "http://127.0.0.1:{RASA_PORT}", "where the web app reaches Rasa's HTTP API",
             read_by=(APP, LAUNCHER), production="behind a balancer: the balancer's address"),
    Variable("ACTION_ENDPOINT_URL", "http://127.0.0.1:{ACTION_SERVER_PORT}/webhook",
             "(Rasa) where Rasa calls the actions", read_by=(RASA,),
             production="behind a balancer: the balancer's address"),
    Variable("PUBLIC_BASE_URL", "http://localhost:{WEB_PORT}",
             "the web app as customers reach it: links in messages; `https://` makes cookies Secure",
             production="`https://…`"),
    Variable("WIDGET_SOCKET_URL", "http://localhost:{RASA_PORT}",
             "the Rasa server as the customer's browser reaches it (the widget's socket.io)"),
    Variable("SOCKETIO_ALLOWED_ORIGINS", "http://localhost:{WEB_PORT},http://127.0.0.1:{WEB_PORT}",
             "(Rasa) origins allowed on the widget's websocket", read_by=(RASA,),
             production="the web app's public origin"),
    Variable("RASA_ENDPOINTS", "endpoints.yml", "the endpoints file `rasa run` gets (the benchmark "
             "gives another)", read_by=(LAUNCHER,), blank_is_unset=True,
             production_default="deploy/endpoints.production.yml"),
    Variable("RASA_MODEL", "{PROJECT_ROOT}/models/meridian.tar.gz", "the model `rasa run` loads",
             read_by=(LAUNCHER,)),
    # Secrets
    Variable("RASA_API_TOKEN", "", "token of Rasa's HTTP API (`?token=`), which the web app uses",
             SECRET, (APP, LAUNCHER),
             production="required; the demo's `make run` generates one and prints it"),
    Variable("ACTION_SERVER_TOKEN", "demo-action-secret",
             "(Rasa) shared secret Rasa sends to the action server", SECRET, (APP, RASA),
             production_default="", production="required, your own"),
    Variable("SECRET_PEPPER", "demo-pepper-change-me", "key of the hashes of the verification "
             "factors (ZIP, date of birth, SSN digits), one-time codes and reset tokens, and of the "
             "sealed values (mailing ZIP, codes and links in the outbox, staff TOTP seeds)", SECRET,
             production_default="", production="required, your own; changing it voids stored hashes"),
    Variable("CLIENT_ADDRESS_HEADER", "", "(Rasa) the header the proxy in front of Rasa sets to "
             "the client's address (per-client verification limits count by it); empty: the "
             "connection's address", read_by=(RASA,),
             production="behind a proxy: the header it sets and overwrites (HAProxy: `X-Real-IP`), "
             "or every customer shares the proxy's limit"),
    Variable("REST_GATEWAY_TOKEN", "", "(Rasa) bearer token the REST channel then requires "
             "(`Authorization: Bearer …`), sent by an authenticating gateway in front of it; empty: "
             "REST is open in the demo and off in production", SECRET, (RASA,), optional=True,
             production="REST is off unless set: only a gateway that authenticates its callers "
             "and chooses their `sender` may hold it (README, Production)"),
    Variable("PORTAL_JWT_ALGORITHM", "HS256", "(Rasa) how the lender's portal signs the widget's "
             "token", CHOICE, (APP, RASA), choices=("HS256", "RS256")),
    Variable("PORTAL_JWT_SECRET", "demo-portal-secret-change-me-in-production",
             "(Rasa) HS256 secret shared with the portal", SECRET, (APP, RASA), production_default="",
             production="required, your own, unless RS256 with `PORTAL_JWT_PUBLIC_KEY_FILE`"),
    Variable("PORTAL_JWT_PUBLIC_KEY_FILE", "", "(Rasa) PEM file of the portal's public key, for RS256",
             read_by=(APP, RASA), production="with RS256: a readable file"),
    Variable("PORTAL_JWT_PRIVATE_KEY_FILE", "", "PEM file of the private key, for RS256 where tokens "
             "are issued (the demo page)", production="not on the assistant's servers"),
    # Stores
    Variable("DATABASE_URL", "sqlite:///{PROJECT_ROOT}/var/meridian.db", "the account store; "
             "`postgresql://user:pass@host:5432/db` for PostgreSQL", production="PostgreSQL"),
    Variable("TRACKER_SQLITE_PATH", "{PROJECT_ROOT}/var/tracker.db", "(Rasa) the demo's tracker store",
             read_by=(RASA,)),
    Variable("LOCK_SQLITE_PATH", "{TRACKER_SQLITE_PATH}.locks", "(Rasa) the demo's conversation "
             "locks, shared by its Sanic workers (rasa_ext/lock_store.py)", read_by=(RASA,)),
    Variable("SANIC_WORKERS", "{CPU_CORES}", "(Rasa) Rasa's worker processes: by default one per "
             "core, at most 4 (each about 150 MB more)", NUMBER, (RASA,), production_default="1",
             production="one a replica; scale out with replicas, or raise it with the replica's "
             "CPU limit"),
    Variable("SOCKETIO_RELAY_URL", "sqlite:///{TRACKER_SQLITE_PATH}.relay", "(Rasa) how a widget's "
             "message reaches the Rasa process holding its socket: `sqlite:///file` on one machine, "
             "`redis://host:port/db` across replicas (channel: `REDIS_KEY_PREFIX`)", read_by=(RASA,),
             production_default="redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"),
    Variable("TRACKER_DB_HOST", "127.0.0.1", "(Rasa) production tracker store (PostgreSQL): host",
             read_by=(RASA,)),
    Variable("TRACKER_DB_PORT", "5432", "(Rasa) its port", NUMBER, (RASA,)),
    Variable("TRACKER_DB_NAME", "rasa", "(Rasa) its database", read_by=(RASA,)),
    Variable("TRACKER_DB_USER", "postgres", "(Rasa) its user", read_by=(RASA,)),
    Variable("TRACKER_DB_PASSWORD", "", "(Rasa) its password", SECRET, (RASA,),
             production=_STORE_PASSWORD, store_host="TRACKER_DB_HOST"),
    Variable("REDIS_HOST", "127.0.0.1", "production Redis (Rasa's lock store, the socket.io relay, "
             "shared counters): host", read_by=(APP, RASA)),
    Variable("REDIS_PORT", "6379", "its port", NUMBER, (APP, RASA)),
    Variable("REDIS_DB", "1", "its database number", NUMBER, (APP, RASA)),
    Variable("REDIS_KEY_PREFIX", "meridian", "its key prefix (letters and digits only)",
             read_by=(APP, RASA)),
    Variable("COUNTERS_URL", "", "where the web app counts console sign-in attempts per address: "
             "empty is this process's memory; `redis://host:port/db` shares them between replicas",
             production_default="redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"),
    Variable("RABBITMQ_HOST", "127.0.0.1", "(Rasa) production event broker (RabbitMQ): host",
             read_by=(RASA,)),
    Variable("RABBITMQ_PORT", "5672", "(Rasa) its port", NUMBER, (RASA,)),
    Variable("RABBITMQ_USER", "guest", "(Rasa) its user", read_by=(RASA,)),
    Variable("RABBITMQ_PASSWORD", "guest", "(Rasa) its password", SECRET, (RASA,),
             production=_STORE_PASSWORD, store_host="RABBITMQ_HOST"),
    Variable("RABBITMQ_QUEUE", "rasa_events", "(Rasa) its queue", read_by=(RASA,)),
    # The business
    Variable("LENDER_TIMEZONE", "America/New_York", "the lender's \"today\" for due and payment dates"),
    Variable("SUPPORT_HOURS", "mon-sun 00:00-24:00", "when people answer, in the lender's time zone, "
             "e.g. `mon-fri 08:00-20:00, sat 09:00-14:00`; outside them a hand-off offers an email "
             "or a call back", HOURS),
    Variable("CONSOLE_SESSION_MINUTES", "480", "a console sign-in lasts a shift at most", NUMBER),
    Variable("CONSOLE_IDLE_MINUTES", "30", "and ends after this long without a request", NUMBER),
    Variable("NOTIFIER", "outbox", "every message is written to the outbox; `smtp`: "
             "`python -m autofinance deliver-outbox` sends the emails through SMTP and the texts "
             "through Twilio (`TWILIO_ACCOUNT_SID`, `TWILIO_AUTH_TOKEN`, `TWILIO_NUMBER`)",
             production="`smtp`"),
    # Reminders and alerts (python -m autofinance reminders --every N; make run starts it)
    Variable("REMINDERS", ",".join(("payment_due", "payment_missed", "payment_returned",
                                    "payoff_expiring", "lease_ending", "decision", "insurance_lapsed")),
             "which reminders and alerts the scheduler sends (comma-separated; empty: none)",
             SOME_OF, choices=("payment_due", "payment_missed", "payment_returned", "payoff_expiring",
                      "lease_ending", "decision", "insurance_lapsed")),
    Variable("REMINDER_DUE_DAYS", "5", "a payment reminder goes this many days before the due "
             "date (customers on autopay get none)", NUMBER),
    Variable("REMINDER_LATE_DAYS", "1,10", "days after a missed due date that a past-due notice "
             "goes (the last before the 10-day grace period ends, and when it has)", NUMBER_LIST),
    Variable("REMINDER_LEASE_END_DAYS", "90,60,30", "days before a lease ends that a notice goes",
             NUMBER_LIST),
    Variable("REMINDER_PAYOFF_DAYS", "2", "an emailed payoff quote's reminder goes this many days "
             "before it lapses", NUMBER),
    Variable("REMINDER_RECENT_DAYS", "7", "a returned payment or a specialist's decision older "
             "than this is not announced any more (a scheduler that was down catches up on the "
             "rest)", NUMBER),
    Variable("REMINDER_TEXT_HOURS", "08:00-21:00", "texts (SMS, WhatsApp, Telegram) go only "
             "within these hours of the customer's own time zone (TCPA); emails at any hour"),
    Variable("REMINDER_DAILY_CAP", "3", "at most this many reminders a customer a day (their "
             "day); the rest wait for the next", NUMBER),
    Variable("REMINDER_EVERY_SECONDS", "60", "how often the scheduler looks for what is due",
             NUMBER),
    Variable("SMTP_HOST", "localhost", "the SMTP relay's host"),
    Variable("SMTP_PORT", "25", "the SMTP relay's port", NUMBER),
    Variable("SMTP_SENDER", "no-reply@meridian-auto.example", "the emails' sender"),
    # Messaging channels (no defaults: a channel is off until all its variables are set)
    Variable("TELEGRAM_ACCESS_TOKEN", "", f"Telegram: the bot's token from BotFather (reminders "
             f"to customers who chose Telegram go through it too). {_CHANNEL}",
             read_by=(MESSAGING, APP)),
    Variable("TELEGRAM_BOT_NAME", "", f"Telegram: the bot's username, no `@`. {_CHANNEL}",
             read_by=(MESSAGING,)),
    Variable("TELEGRAM_WEBHOOK_URL", "", f"Telegram: the webhook Rasa registers. {_CHANNEL}",
             read_by=(MESSAGING,)),
    Variable("TELEGRAM_API_BASE_URL", "", "Telegram: optional; unset is the real API",
             read_by=(MESSAGING, APP)),
    Variable("SLACK_BOT_TOKEN", "", f"Slack: `xoxb-…`. {_CHANNEL}", read_by=(MESSAGING,)),
    Variable("SLACK_SIGNING_SECRET", "", f"Slack: signing secret. {_CHANNEL}", read_by=(MESSAGING,)),
    Variable("TWILIO_ACCOUNT_SID", "", f"Twilio SMS and WhatsApp: account. {_CHANNEL}",
             read_by=(MESSAGING, APP)),
    Variable("TWILIO_AUTH_TOKEN", "", f"Twilio SMS and WhatsApp: auth token. {_CHANNEL}",
             read_by=(MESSAGING, APP)),
    Variable("TWILIO_NUMBER", "", f"Twilio SMS: the number (E.164). {_CHANNEL}", read_by=(MESSAGING, APP)),
    Variable("TWILIO_WHATSAPP_NUMBER", "", f"Twilio WhatsApp: the sender (reminders too). {_CHANNEL}",
             read_by=(MESSAGING, APP)),
    Variable("TWILIO_API_BASE_URL", "", "Twilio: optional; unset is the real API", read_by=(MESSAGING, APP)),
    Variable("FACEBOOK_VERIFY", "", f"Messenger: the verify token. {_CHANNEL}", read_by=(MESSAGING,)),
    Variable("FACEBOOK_SECRET", "", f"Messenger: the app secret. {_CHANNEL}", read_by=(MESSAGING,)),
    Variable("FACEBOOK_PAGE_ACCESS_TOKEN", "", f"Messenger: the page access token. {_CHANNEL}",
             read_by=(MESSAGING,)),
)
# What the launcher gives every service when the caller's environment lacks it: the ports, Rasa's
# address, and every variable the Rasa YAML files read.
LAUNCHER_DEFAULTS = ("RASA_PORT", "ACTION_SERVER_PORT", "WEB_PORT", "RASA_URL")
RASA_VARIABLES = tuple(name for name, v in VARIABLES.items() if RASA in v.read_by)
RASA_PROCESS_VARIABLES = ("SANIC_WORKERS",)  # of those, read by Rasa's code, not its YAML files
# Secrets that must be real in production (PORTAL_JWT_SECRET: unless RS256 with a public key).
PRODUCTION_SECRETS = tuple(name for name, v in VARIABLES.items() if v.type == SECRET)
DEMO_SECRET_VALUES = frozenset(v.default for v in VARIABLES.values() if v.type == SECRET and v.default)


def profile_of(env: Mapping[str, str]) -> str:
    """ASSISTANT_PROFILE, checked: 'demo' or 'production'."""
    profile = env.get("ASSISTANT_PROFILE", "demo").strip().lower()
    if profile not in PROFILES:
        raise ConfigError([f"ASSISTANT_PROFILE must be 'demo' or 'production', not {profile!r}"],
                          ["ASSISTANT_PROFILE"])
    return profile


def value(env: Mapping[str, str], name: str, profile: Optional[str] = None) -> str:
    """A variable's text: the environment's, else its default for the profile (defaults that
    name other variables take theirs from the same environment)."""
    variable = VARIABLES[name]
    given = env.get(name)
    if given is not None and not (variable.blank_is_unset and not given.strip()):
        return given
    profile = profile or profile_of(env)
    return variable.default_for(profile).format_map(_Defaults(env, profile))


class _Defaults(dict):  # type: ignore[type-arg]
    def __init__(self, env: Mapping[str, str], profile: str) -> None:
        super().__init__()
        self.env, self.profile = env, profile

    def __missing__(self, name: str) -> str:
        if name == "PROJECT_ROOT":
            return str(PROJECT_ROOT)
        if name == "CPU_CORES":
            return str(max(1, min(os.cpu_count() or 1, MAX_DEFAULT_WORKERS)))
        return value(self.env, name, self.profile)


def default(name: str, profile: str = "demo") -> str:
    """A variable's default on an empty environment."""
    return value({}, name, profile)


def rasa_environment(env: Optional[Mapping[str, str]] = None) -> dict[str, str]:
    """Every variable the Rasa YAML files read (endpoints, production endpoints, credentials),
    from the environment or its default: what Rasa must be given, as it fails on an unset one.
    No demo secret in the production profile: there they are empty unless given."""
    env = os.environ if env is None else env
    profile = profile_of(env)
    return {name: value(env, name, profile) for name in RASA_VARIABLES}


def launcher_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The environment's values, else the defaults, of what the launcher gives every service:
    the ports, RASA_URL and `rasa_environment`."""
    profile = profile_of(env)
    return {**{name: value(env, name, profile) for name in LAUNCHER_DEFAULTS}, **rasa_environment(env)}


def _is_loopback(host: str) -> bool:
    host = host.strip().strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def production_problems(env: Mapping[str, str]) -> dict[str, str]:
    """The production profile's refusals: variable -> why (missing, demo value, too short)."""
    refused: dict[str, str] = {}
    rs256_key = (value(env, "PORTAL_JWT_ALGORITHM", "production") == "RS256"
                 and value(env, "PORTAL_JWT_PUBLIC_KEY_FILE", "production").strip())
    for name in PRODUCTION_SECRETS:
        variable, secret = VARIABLES[name], value(env, name, "production")
        if name == "PORTAL_JWT_SECRET" and rs256_key:
            continue
        if variable.optional and not secret.strip():
            continue  # left empty: its feature is off
        if variable.store_host and _is_loopback(value(env, variable.store_host, "production")):
            continue  # a store on this machine: PostgreSQL's local trust, RabbitMQ's local guest
        if not secret.strip():
            refused[name] = "is not set"
        elif secret in DEMO_SECRET_VALUES:
            refused[name] = "is a published demo value"
        elif len(secret) < MIN_SECRET_LENGTH:
            refused[name] = f"is shorter than {MIN_SECRET_LENGTH} characters"
    if rs256_key and not Path(value(env, "PORTAL_JWT_PUBLIC_KEY_FILE", "production")).is_file():
        refused["PORTAL_JWT_PUBLIC_KEY_FILE"] = "names no readable file"
    return refused


class _Reader:
    """Reads typed values, collecting every problem so that one message names them all."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env, self.profile = env, profile_of(env)
        self.problems: list[str] = []
        self.offending: list[str] = []
        self.read: set[str] = set()

    def _refuse(self, name: str, problem: str) -> None:
        self.problems.append(problem)
        self.offending.append(name)

    def text(self, name: str) -> str:
        self.read.add(name)
        return value(self.env, name, self.profile)

    def secret(self, name: str) -> Secret:
        return Secret(self.text(name))

    def number(self, name: str) -> int:
        raw = self.text(name)
        try:
            return int(raw)
        except ValueError:
            self._refuse(name, f"{name} must be a whole number, not {raw!r}")
            return 0

    def flag(self, name: str) -> bool:
        raw = self.text(name).strip().lower()
        if raw not in _TRUE | _FALSE:
            self._refuse(name, f"{name} must be true or false, not {raw!r}")
        return raw in _TRUE

    def choice(self, name: str) -> str:
        raw, choices = self.text(name).strip(), VARIABLES[name].choices
        chosen = next((c for c in choices if c.lower() == raw.lower()), None)
        if chosen is None:
            self._refuse(name, f"{name} must be one of {', '.join(choices)}, not {raw!r}")
            return choices[0]
        return chosen

    def hours(self, name: str) -> str:
        spec = self.text(name)
        try:
            parse_hours(spec)  # a typo stops the start-up, with an example
        except ValueError as error:
            self._refuse(name, str(error))
        return spec

    def numbers(self, name: str) -> tuple[int, ...]:
        raw = self.text(name)
        try:
            found = tuple(sorted({int(part) for part in raw.split(",") if part.strip()}))
        except ValueError:
            found = (-1,)
        if any(number < 0 for number in found):
            self._refuse(name, f"{name} must be whole numbers separated by commas, not {raw!r}")
            return ()
        return found

    def some_of(self, name: str) -> tuple[str, ...]:
        raw, choices = self.text(name), VARIABLES[name].choices
        chosen = tuple(part.strip().lower() for part in raw.split(",") if part.strip())
        unknown = [part for part in chosen if part not in choices]
        if unknown:
            self._refuse(name, f"{name}: {', '.join(unknown)} is not one of {', '.join(choices)}")
        return tuple(part for part in chosen if part in choices)

    def window(self, name: str) -> tuple[int, int]:
        try:
            return parse_window(self.text(name))
        except ValueError as error:
            self._refuse(name, f"{name}: {error}")
            return (0, 0)

    def check_the_rest(self) -> None:
        """The numbers Settings keeps no field for (RASA_PORT, the stores' ports): checked too."""
        for name, variable in VARIABLES.items():
            if variable.type == NUMBER and name not in self.read:
                self.number(name)

    def finish(self) -> None:
        if self.profile == "production":
            refused = production_problems(self.env)
            if refused:
                self.problems.append(
                    "the production profile needs real secrets: "
                    + ", ".join(f"{name} {why}" for name, why in refused.items())
                    + f" (give each its own random value of at least {MIN_SECRET_LENGTH} characters, "
                    f"e.g. {SECRET_HINT})")
                self.offending.extend(refused)
        if self.problems:
            raise ConfigError(self.problems, self.offending)


@dataclass(frozen=True)
class Settings:
    """Typed settings; build with `Settings.from_env()`. The defaults are the demo's."""

    profile: str = "demo"
    demo_mode: bool = True
    database_url: str = default("DATABASE_URL")
    rasa_url: str = default("RASA_URL")
    widget_socket_url: str = default("WIDGET_SOCKET_URL")  # Rasa's socket.io as the customer's browser sees it
    rasa_api_token: Secret = field(default_factory=lambda: Secret(default("RASA_API_TOKEN")))
    action_server_token: Secret = field(default_factory=lambda: Secret(default("ACTION_SERVER_TOKEN")))
    action_server_port: int = int(default("ACTION_SERVER_PORT"))
    action_server_host: str = default("ACTION_SERVER_HOST")
    action_server_sanic_workers: int = int(default("ACTION_SERVER_SANIC_WORKERS"))
    web_port: int = int(default("WEB_PORT"))
    web_host: str = default("WEB_HOST")
    public_base_url: str = default("PUBLIC_BASE_URL")
    secret_pepper: Secret = field(default_factory=lambda: Secret(default("SECRET_PEPPER")))
    lender_timezone: str = default("LENDER_TIMEZONE")
    portal_jwt_algorithm: str = default("PORTAL_JWT_ALGORITHM")
    portal_jwt_secret: Secret = field(default_factory=lambda: Secret(default("PORTAL_JWT_SECRET")))
    portal_jwt_public_key_file: str = ""  # PEM file, for RS256
    portal_jwt_private_key_file: str = ""  # PEM file, for RS256 issuing (the demo portal only)
    notifier: str = default("NOTIFIER")
    smtp_host: str = default("SMTP_HOST")
    smtp_port: int = int(default("SMTP_PORT"))
    smtp_sender: str = default("SMTP_SENDER")
    twilio_account_sid: str = default("TWILIO_ACCOUNT_SID")
    twilio_auth_token: Secret = field(default_factory=lambda: Secret(default("TWILIO_AUTH_TOKEN")))
    twilio_number: str = default("TWILIO_NUMBER")
    twilio_api_base_url: str = default("TWILIO_API_BASE_URL")
    twilio_whatsapp_number: str = default("TWILIO_WHATSAPP_NUMBER")
    telegram_access_token: Secret = field(default_factory=lambda: Secret(default("TELEGRAM_ACCESS_TOKEN")))
    telegram_api_base_url: str = default("TELEGRAM_API_BASE_URL")
    # When people answer, in the lender's time zone: "mon-fri 08:00-20:00, sat 09:00-14:00".
    # The demo is always staffed so that a hand-off can be tried at any hour.
    support_hours: str = default("SUPPORT_HOURS")
    console_session_minutes: int = int(default("CONSOLE_SESSION_MINUTES"))  # one shift at most
    console_idle_minutes: int = int(default("CONSOLE_IDLE_MINUTES"))  # ends after this long idle
    log_level: str = default("LOG_LEVEL")
    counters_url: str = default("COUNTERS_URL")  # "" = in memory; redis://... = shared
    redis_key_prefix: str = default("REDIS_KEY_PREFIX")
    reminders: ReminderPolicy = ReminderPolicy()
    reminder_every_seconds: int = int(default("REMINDER_EVERY_SECONDS"))

    @property
    def secure_cookies(self) -> bool:
        """Cookies only over HTTPS once the public address is HTTPS (the demo runs on http)."""
        return self.public_base_url.startswith("https://")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        """Raises ConfigError (a ValueError) naming every variable that is not right, and in the
        production profile every secret that is missing, a demo value or too short."""
        read = _Reader(os.environ if env is None else env)
        settings = cls(
            profile=read.profile,
            demo_mode=read.flag("DEMO_MODE"),
            database_url=read.text("DATABASE_URL"),
            rasa_url=read.text("RASA_URL"),
            widget_socket_url=read.text("WIDGET_SOCKET_URL"),
            rasa_api_token=read.secret("RASA_API_TOKEN"),
            action_server_token=read.secret("ACTION_SERVER_TOKEN"),
            action_server_port=read.number("ACTION_SERVER_PORT"),
            action_server_host=read.text("ACTION_SERVER_HOST"),
            action_server_sanic_workers=read.number("ACTION_SERVER_SANIC_WORKERS"),
            web_port=read.number("WEB_PORT"),
            web_host=read.text("WEB_HOST"),
            public_base_url=read.text("PUBLIC_BASE_URL"),
            secret_pepper=read.secret("SECRET_PEPPER"),
            lender_timezone=read.text("LENDER_TIMEZONE"),
            portal_jwt_algorithm=read.choice("PORTAL_JWT_ALGORITHM"),
            portal_jwt_secret=read.secret("PORTAL_JWT_SECRET"),
            portal_jwt_public_key_file=read.text("PORTAL_JWT_PUBLIC_KEY_FILE"),
            portal_jwt_private_key_file=read.text("PORTAL_JWT_PRIVATE_KEY_FILE"),
            notifier=read.text("NOTIFIER"),
            smtp_host=read.text("SMTP_HOST"),
            smtp_port=read.number("SMTP_PORT"),
            smtp_sender=read.text("SMTP_SENDER"),
            twilio_account_sid=read.text("TWILIO_ACCOUNT_SID"),
            twilio_auth_token=Secret(read.text("TWILIO_AUTH_TOKEN")),
            twilio_number=read.text("TWILIO_NUMBER"),
            twilio_api_base_url=read.text("TWILIO_API_BASE_URL"),
            twilio_whatsapp_number=read.text("TWILIO_WHATSAPP_NUMBER"),
            telegram_access_token=Secret(read.text("TELEGRAM_ACCESS_TOKEN")),
            telegram_api_base_url=read.text("TELEGRAM_API_BASE_URL"),
            support_hours=read.hours("SUPPORT_HOURS"),
            console_session_minutes=read.number("CONSOLE_SESSION_MINUTES"),
            console_idle_minutes=read.number("CONSOLE_IDLE_MINUTES"),
            log_level=read.choice("LOG_LEVEL"),
            counters_url=read.text("COUNTERS_URL"),
            redis_key_prefix=read.text("REDIS_KEY_PREFIX"),
            reminders=ReminderPolicy(
                kinds=read.some_of("REMINDERS"),
                due_days=read.number("REMINDER_DUE_DAYS"),
                late_days=read.numbers("REMINDER_LATE_DAYS"),
                lease_end_days=read.numbers("REMINDER_LEASE_END_DAYS"),
                payoff_days=read.number("REMINDER_PAYOFF_DAYS"),
                recent_days=read.number("REMINDER_RECENT_DAYS"),
                text_hours=read.window("REMINDER_TEXT_HOURS"),
                daily_cap=read.number("REMINDER_DAILY_CAP"),
            ),
            reminder_every_seconds=read.number("REMINDER_EVERY_SECONDS"),
        )
        read.check_the_rest()
        read.finish()
        return settings


def process_settings(process: str) -> Settings:
    """A server process's settings with its logging set up; a bad setting (in production, a
    demo or missing secret) is one line on stderr and exit code 1, not a traceback."""
    try:
        settings = Settings.from_env()
    except ValueError as error:
        print(f"Could not start {process}: {error}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return settings


def markdown_table() -> str:
    """The README's table of every variable."""
    def shown(text: str) -> str:
        text = text.replace("{PROJECT_ROOT}/", "").replace("{", "$").replace("}", "")
        return f"`{text}`" if text else "—"

    rows = ["| variable | type | default | what it does | production |", "|---|---|---|---|---|"]
    for variable in VARIABLES.values():
        kind = variable.type + (f": {' / '.join(variable.choices)}" if variable.choices else "")
        fallback = shown(variable.default)
        if variable.production_default is not None:
            fallback += f"; production: {shown(variable.production_default)}"
        rows.append(f"| `{variable.name}` | {kind} | {fallback} | {variable.meaning} "
                    f"| {variable.production or ''} |")
    return "\n".join(rows)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args[:1] == ["rasa-env"]:
            rasa = rasa_environment()
            if args[1:2] == ["--"] and args[2:]:
                os.execvpe(args[2], args[2:], {**os.environ, **rasa})
            print("\n".join(f"{name}={text}" for name, text in rasa.items()))
            return 0
        if args == ["table"]:
            print(markdown_table())
            return 0
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print("usage: python -m autofinance.config rasa-env [-- COMMAND ...] | table", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
