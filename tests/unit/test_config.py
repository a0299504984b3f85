"""autofinance/config.py, the one place that reads the environment: types, defaults, the demo
profile as it was, and a production profile that refuses demo or missing secrets."""
from __future__ import annotations

import os

import re
import secrets
from pathlib import Path
from typing import Callable

import pytest
import yaml

from autofinance import config
from autofinance.config import (
    MIN_SECRET_LENGTH,
    PROJECT_ROOT,
    ConfigError,
    Secret,
    Settings,
    VARIABLES,
)

REFERENCE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")
OUR_SECRETS = ("RASA_API_TOKEN", "ACTION_SERVER_TOKEN", "SECRET_PEPPER", "PORTAL_JWT_SECRET")


def production(**overrides: str) -> dict[str, str]:
    """A production environment that starts: every secret real, the stores on this machine."""
    env = {"ASSISTANT_PROFILE": "production",
           **{name: secrets.token_urlsafe(24) for name in OUR_SECRETS}}
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def refusal(env: dict[str, str]) -> ConfigError:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env(env)
    return refused.value


# The demo profile: as it was


def test_the_demo_profile_starts_with_the_defaults_on_an_empty_environment() -> None:
    settings = Settings.from_env({})
    assert settings == Settings()
    assert (settings.profile, settings.demo_mode) == ("demo", True)
    assert settings.action_server_token == Secret("demo-action-secret")
    assert settings.secret_pepper == Secret("demo-pepper-change-me")
    assert settings.portal_jwt_secret == Secret("demo-portal-secret-change-me-in-production")
    assert settings.rasa_api_token == Secret("")
    assert settings.database_url == f"sqlite:///{PROJECT_ROOT / 'var' / 'meridian.db'}"
    assert (settings.rasa_url, settings.widget_socket_url, settings.public_base_url) == (
        "http://127.0.0.1:5005", "http://localhost:5005", "http://localhost:8080")
    assert (settings.action_server_host, settings.action_server_port,
            settings.action_server_sanic_workers) == ("127.0.0.1", 5055, 1)
    assert (settings.web_host, settings.web_port, settings.log_level) == ("127.0.0.1", 8080, "INFO")


def test_defaults_that_name_a_port_follow_the_port_given() -> None:
    settings = Settings.from_env({"RASA_PORT": "5123", "WEB_PORT": "8123"})
    assert settings.rasa_url == "http://127.0.0.1:5123"
    assert settings.widget_socket_url == "http://localhost:5123"
    assert settings.public_base_url == "http://localhost:8123"


def test_given_values_win_over_the_defaults() -> None:
    settings = Settings.from_env({"ACTION_SERVER_HOST": "0.0.0.0", "ACTION_SERVER_SANIC_WORKERS": "3",
                                  "LOG_LEVEL": "warning", "DEMO_MODE": "no"})
    assert (settings.action_server_host, settings.action_server_sanic_workers) == ("0.0.0.0", 3)
    assert settings.log_level == "WARNING" and settings.demo_mode is False


def test_the_demo_profile_keeps_accepting_its_demo_secrets() -> None:
    env = {"ACTION_SERVER_TOKEN": "demo-action-secret", "SECRET_PEPPER": "short"}
    assert Settings.from_env(env).secret_pepper == Secret("short")


# Types


NUMBERS = sorted(name for name, v in VARIABLES.items() if v.type == config.NUMBER)


@pytest.mark.parametrize("name", NUMBERS)
def test_a_number_that_is_not_a_number_is_refused_with_the_variables_name(name: str) -> None:
    refused = refusal({name: "fifty"})
    assert str(refused) == f"{name} must be a whole number, not 'fifty'"
    assert refused.variables == [name]


def test_the_stores_ports_that_only_rasa_reads_are_checked_too() -> None:
    assert {"TRACKER_DB_PORT", "REDIS_PORT", "REDIS_DB", "RABBITMQ_PORT", "RASA_PORT"} <= set(NUMBERS)


@pytest.mark.parametrize("name, given, expected", [
    ("DEMO_MODE", "maybe", "DEMO_MODE must be true or false, not 'maybe'"),
    ("LOG_LEVEL", "LOUD", "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, not 'LOUD'"),
    ("PORTAL_JWT_ALGORITHM", "none", "PORTAL_JWT_ALGORITHM must be one of HS256, RS256, not 'none'"),
    ("ASSISTANT_PROFILE", "prod", "ASSISTANT_PROFILE must be 'demo' or 'production', not 'prod'"),
])
def test_a_value_of_the_wrong_kind_is_refused_with_the_variables_name(
        name: str, given: str, expected: str) -> None:
    assert str(refusal({name: given})) == expected


def test_every_problem_is_named_in_one_line() -> None:
    refused = refusal({"WEB_PORT": "x", "SMTP_PORT": "y", "DEMO_MODE": "perhaps"})
    assert refused.variables == ["DEMO_MODE", "WEB_PORT", "SMTP_PORT"]
    assert "\n" not in str(refused) and str(refused).count(";") == 2


# The production profile


def test_the_production_profile_starts_with_real_secrets() -> None:
    env = production()
    settings = Settings.from_env(env)
    assert settings.profile == "production" and settings.demo_mode is False
    assert settings.secret_pepper == Secret(env["SECRET_PEPPER"])


@pytest.mark.parametrize("name", OUR_SECRETS)
def test_a_missing_production_secret_is_refused_with_its_name(name: str) -> None:
    for env in (production(**{name: None}), production(**{name: ""}), production(**{name: "   "})):
        refused = refusal(env)
        assert refused.variables == [name]
        assert f"{name} is not set" in str(refused)
        assert str(refused).startswith("the production profile needs real secrets: ")


@pytest.mark.parametrize("name", OUR_SECRETS)
@pytest.mark.parametrize("demo_value", sorted(config.DEMO_SECRET_VALUES))
def test_a_demo_value_as_a_production_secret_is_refused_with_its_name(name: str, demo_value: str) -> None:
    refused = refusal(production(**{name: demo_value}))
    assert refused.variables == [name]
    assert f"{name} is a published demo value" in str(refused)


@pytest.mark.parametrize("name", OUR_SECRETS)
def test_a_production_secret_shorter_than_16_characters_is_refused(name: str) -> None:
    assert MIN_SECRET_LENGTH == 16
    refused = refusal(production(**{name: "x" * 15}))
    assert refused.variables == [name]
    assert f"{name} is shorter than 16 characters" in str(refused)
    Settings.from_env(production(**{name: "x" * 16}))  # long enough


def test_the_production_profile_names_every_offending_secret_in_one_message() -> None:
    refused = refusal({"ASSISTANT_PROFILE": "production", "ACTION_SERVER_TOKEN": "demo-action-secret"})
    assert refused.variables == list(OUR_SECRETS)
    message = str(refused)
    assert "\n" not in message
    assert ("RASA_API_TOKEN is not set, ACTION_SERVER_TOKEN is a published demo value, "
            "SECRET_PEPPER is not set, PORTAL_JWT_SECRET is not set") in message
    assert "token_urlsafe" in message  # how to make one


def test_the_production_profile_gives_no_demo_secret_by_default() -> None:
    for name in OUR_SECRETS:
        assert config.default(name, "production") == ""
    assert config.rasa_environment({"ASSISTANT_PROFILE": "production"})["ACTION_SERVER_TOKEN"] == ""


def test_rs256_with_a_public_key_file_needs_no_portal_secret(tmp_path: Path) -> None:
    key = tmp_path / "portal.pem"
    key.write_text("-----BEGIN PUBLIC KEY-----\n")
    env = production(PORTAL_JWT_SECRET=None, PORTAL_JWT_ALGORITHM="RS256",
                     PORTAL_JWT_PUBLIC_KEY_FILE=str(key))
    assert Settings.from_env(env).portal_jwt_algorithm == "RS256"
    assert refusal({**env, "PORTAL_JWT_PUBLIC_KEY_FILE": ""}).variables == ["PORTAL_JWT_SECRET"]
    missing = refusal({**env, "PORTAL_JWT_PUBLIC_KEY_FILE": str(tmp_path / "none.pem")})
    assert missing.variables == ["PORTAL_JWT_PUBLIC_KEY_FILE"]


@pytest.mark.parametrize("password, host", [
    ("RABBITMQ_PASSWORD", "RABBITMQ_HOST"), ("TRACKER_DB_PASSWORD", "TRACKER_DB_HOST")])
def test_a_stores_default_password_is_refused_unless_the_store_is_on_this_machine(
        password: str, host: str) -> None:
    for loopback in ("127.0.0.1", "localhost", "::1"):
        Settings.from_env(production(**{host: loopback}))  # RabbitMQ's guest is local-only
    refused = refusal(production(**{host: "rabbitmq.example.internal"}))
    assert refused.variables == [password]
    assert password in str(refused)
    Settings.from_env(production(**{host: "db.example.internal", password: secrets.token_urlsafe(24)}))


# The launcher, Rasa and the Makefile get their values from here


def test_the_launchers_environment_comes_from_config() -> None:
    from autofinance.entrypoints.stack import service_environment

    env = service_environment({"RASA_PORT": "5123", "ACTION_SERVER_PORT": "5124", "WEB_PORT": "8124",
                               "REDIS_HOST": "redis.internal"})
    assert env.items() >= config.launcher_environment(env).items()
    assert env["RASA_URL"] == "http://127.0.0.1:5123"
    assert env["ACTION_ENDPOINT_URL"] == "http://127.0.0.1:5124/webhook"
    assert env["SOCKETIO_ALLOWED_ORIGINS"] == "http://localhost:8124,http://127.0.0.1:8124"
    assert env["REDIS_HOST"] == "redis.internal" and env["REDIS_PORT"] == "6379"
    assert env["ACTION_SERVER_TOKEN"] == "demo-action-secret"  # the demo, as before
    assert env["TRACKER_SQLITE_PATH"] == str(PROJECT_ROOT / "var" / "tracker.db")
    assert service_environment({"ASSISTANT_PROFILE": "production"})["PORTAL_JWT_SECRET"] == ""


def test_the_rasa_yaml_files_read_exactly_the_variables_config_gives_rasa() -> None:
    files = ("endpoints.yml", "deploy/endpoints.production.yml", "credentials.yml")
    read = {name for f in files for name in REFERENCE.findall((PROJECT_ROOT / f).read_text())}
    assert read | set(config.RASA_PROCESS_VARIABLES) == set(config.rasa_environment({}))
    assert not read & set(config.RASA_PROCESS_VARIABLES)


def test_rasa_uses_a_worker_per_core_by_default_and_one_a_replica_in_production() -> None:
    cores = str(max(1, min(os.cpu_count() or 1, config.MAX_DEFAULT_WORKERS)))
    assert config.rasa_environment({})["SANIC_WORKERS"] == cores
    assert config.rasa_environment({"ASSISTANT_PROFILE": "production"})["SANIC_WORKERS"] == "1"
    assert config.rasa_environment({"SANIC_WORKERS": "3"})["SANIC_WORKERS"] == "3"
    relay = config.rasa_environment({"ASSISTANT_PROFILE": "production", "REDIS_HOST": "r.internal"})
    assert relay["SOCKETIO_RELAY_URL"] == "redis://r.internal:6379/1"
    assert config.rasa_environment({})["SOCKETIO_RELAY_URL"].startswith("sqlite:///")


def test_config_lists_every_messaging_channels_variable() -> None:
    text = (PROJECT_ROOT / "deploy" / "messaging-channels.yml").read_text()
    in_file = {name for entry in yaml.safe_load(text).values() for value in entry.values()
               for name in REFERENCE.findall(str(value))}
    assert in_file == {name for name, v in VARIABLES.items() if config.MESSAGING in v.read_by}


def test_the_launcher_chooses_the_endpoints_and_model_through_config(tmp_path: Path) -> None:
    from autofinance.entrypoints.stack import MODEL_PATH, rasa_service, service_environment

    def option(env: dict[str, str], name: str) -> str:
        command = rasa_service(service_environment({"RASA_API_TOKEN": "t", **env}),
                               tmp_path / "c.yml").command
        return command[command.index(name) + 1]

    assert option({}, "--endpoints") == "endpoints.yml"
    assert option({"ASSISTANT_PROFILE": " Production"}, "--endpoints") == "deploy/endpoints.production.yml"
    assert option({"RASA_ENDPOINTS": ""}, "--endpoints") == "endpoints.yml"
    assert option({"RASA_ENDPOINTS": "e.yml"}, "--endpoints") == "e.yml"
    assert option({}, "--model") == str(MODEL_PATH) == str(PROJECT_ROOT / "models" / "meridian.tar.gz")


def test_rasa_env_prints_the_rasa_yaml_variables_as_name_value_lines(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("ASSISTANT_PROFILE", raising=False)
    monkeypatch.setenv("ACTION_ENDPOINT_URL", "http://127.0.0.1:6000/webhook")
    assert config.main(["rasa-env"]) == 0
    lines = dict(line.split("=", 1) for line in capsys.readouterr().out.splitlines())
    assert list(lines) == list(config.RASA_VARIABLES)
    assert lines["ACTION_ENDPOINT_URL"] == "http://127.0.0.1:6000/webhook"


def test_the_makefiles_rasa_commands_take_their_values_from_config() -> None:
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    assert "RASA_YAML_ENV := $(APP_PY) -m autofinance.config rasa-env --" in makefile
    for command in ("shell", "data validate", "test core"):
        assert re.search(rf"@\$\(RASA_YAML_ENV\) \$\(RASA\) {command}", makefile), command
    assert not any(v.default in makefile for v in VARIABLES.values() if v.type == config.SECRET and v.default)


def test_the_readme_table_lists_every_variable() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert config.markdown_table() in readme  # python -m autofinance.config table


# Each entry point prints the refusal and exits non-zero, without a traceback


def _production_with_demo_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ASSISTANT_PROFILE", "production")
    monkeypatch.setenv("SECRET_PEPPER", "demo-pepper-change-me")


def _launcher() -> int:
    from autofinance.entrypoints import stack
    return stack.main()


def _action_server() -> int:
    from actions import server
    return server.main()


def _web_app() -> int:
    from autofinance.entrypoints.web import __main__ as web
    return web.main()


def _cli() -> int:
    from autofinance.entrypoints import cli
    return cli.main(["check-db"])


@pytest.mark.parametrize("start, prefix", [
    (_launcher, "Could not start the assistant: "), (_action_server, "Could not start the action server: "),
    (_web_app, "Could not start the web app: "), (_cli, "error: settings: ")])
def test_every_entry_point_refuses_the_production_profile_with_demo_secrets(
        start: Callable[[], int], prefix: str,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _production_with_demo_secrets(monkeypatch)
    from autofinance.entrypoints import stack
    monkeypatch.setattr(stack.Stack, "start", lambda self: pytest.fail("started services"))
    try:
        code = start()
    except SystemExit as stopped:  # the servers stop where their settings are read
        code = stopped.code
    assert code == 1
    out, err = capsys.readouterr()
    (line,) = err.strip().splitlines()
    assert line.startswith(prefix + "the production profile needs real secrets: ")
    assert "SECRET_PEPPER is a published demo value" in line
    for name in OUR_SECRETS:
        assert name in line
