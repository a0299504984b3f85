"""Two Rasa replicas and two action servers behind HAProxy: the production profile, scaled out.

The processes are those `make run` starts (autofinance.entrypoints.stack), each on a free port, with the
production stores; HAProxy runs deploy/haproxy/haproxy.cfg, the file docker compose uses, its
${LB_*} variables pointing at these processes. Every store is this run's own: two PostgreSQL
databases (tracker, accounts) created here and dropped afterwards, a Redis key prefix and a
RabbitMQ queue, so runs never see (or drop) each other's data.
"""
from __future__ import annotations

import csv
import io
import os
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pika
import psycopg
import redis

from autofinance.entrypoints import channels
from autofinance.entrypoints.stack import (
    APP_PYTHON,
    PROJECT_ROOT,
    Service,
    Stack,
    action_service,
    rasa_service,
    service_environment,
)
from tests.e2e.conftest import free_port
from tests.scale.conversations import GATEWAY_TOKEN

HAPROXY = Path(os.environ.get("HAPROXY_PATH", "/usr/sbin/haproxy"))
HAPROXY_CONFIG = PROJECT_ROOT / "deploy" / "haproxy" / "haproxy.cfg"
POSTGRES = "postgresql://postgres@127.0.0.1:5432"
REDIS_DB = 4  # the production-profile test uses 3; each run also has its own key prefix
RASA_REPLICAS = ("rasa-1", "rasa-2")
ACTION_SERVERS = ("actions-1", "actions-2")
BULK_CUSTOMERS = 8  # synthetic customers (autofinance.demo.seed.bulk_identity) for the load run


@dataclass(frozen=True)
class RunStores:
    """This run's database names, queue and Redis key prefix."""

    tracker_db: str
    accounts_db: str
    queue: str
    redis_prefix: str  # alphanumeric: Rasa ignores any other prefix
    pepper: str  # SECRET_PEPPER of the seed and of every process: factors are hashed with it

    @classmethod
    def fresh(cls) -> "RunStores":
        suffix = secrets.token_hex(4)
        return cls(f"scale_tracker_{suffix}", f"scale_accounts_{suffix}",
                   f"scale_events_{suffix}", f"meridianscale{suffix}", secrets.token_urlsafe(32))

    @property
    def tracker_url(self) -> str:
        return f"{POSTGRES}/{self.tracker_db}"

    @property
    def accounts_url(self) -> str:
        return f"{POSTGRES}/{self.accounts_db}"

    def lock_key(self, conversation_id: str) -> str:
        return f"{self.redis_prefix}:lock:{conversation_id}"

    def create(self) -> None:
        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as conn:
            for database in (self.tracker_db, self.accounts_db):
                conn.execute(f'CREATE DATABASE "{database}"')

    def seed(self, bulk: int = BULK_CUSTOMERS) -> None:
        """The account store's schema, the demo customers and `bulk` synthetic ones. The action
        servers open the store on their first call, so this can run while the servers start."""
        subprocess.run([str(APP_PYTHON), "-m", "autofinance", "seed", "--bulk", str(bulk)],
                       cwd=PROJECT_ROOT, check=True, capture_output=True,
                       env={**os.environ, "DATABASE_URL": self.accounts_url,
                            "SECRET_PEPPER": self.pepper})

    def drop(self) -> None:
        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as conn:
            for database in (self.tracker_db, self.accounts_db):
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        with pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1")) as broker:
            broker.channel().queue_delete(self.queue)
        locks = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
        for key in locks.scan_iter(f"{self.redis_prefix}:*"):
            locks.delete(key)


def lb_variable(name: str) -> str:
    """haproxy.cfg's variable for a process's address: 'rasa-1' -> LB_RASA_1."""
    return "LB_" + name.upper().replace("-", "_")


def lb_server(name: str) -> str:
    """haproxy.cfg's name of a process's server: 'rasa-1' -> rasa1."""
    return name.replace("-", "")


def _distinct_free_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def production_environment(stores: RunStores, lb_rasa: int, lb_actions: int, web: int) -> dict[str, str]:
    """What this setup sets for the production profile, on top of autofinance.entrypoints.stack's defaults."""
    return {
        "ASSISTANT_PROFILE": "production", "DEMO_MODE": "false",
        "DATABASE_URL": stores.accounts_url, "TRACKER_DB_NAME": stores.tracker_db,
        "RABBITMQ_QUEUE": stores.queue, "REDIS_KEY_PREFIX": stores.redis_prefix,
        "REDIS_DB": str(REDIS_DB),
        "RASA_API_TOKEN": secrets.token_urlsafe(16), "ACTION_SERVER_TOKEN": secrets.token_urlsafe(16),
        # the production profile refuses demo secrets (autofinance/config.py)
        "SECRET_PEPPER": stores.pepper, "PORTAL_JWT_SECRET": secrets.token_urlsafe(32),
        "REST_GATEWAY_TOKEN": GATEWAY_TOKEN,
        "CLIENT_ADDRESS_HEADER": "X-Real-IP",  # set by HAProxy, as in compose
        # Rasa reaches the action servers, and everything else reaches Rasa, through HAProxy.
        "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{lb_actions}/webhook",
        "RASA_URL": f"http://127.0.0.1:{lb_rasa}",
        # No web app runs here, but Rasa's CORS and socket.io origins name its port.
        "WEB_PORT": str(web), "SOCKETIO_ALLOWED_ORIGINS": f"http://localhost:{web}",
        "PUBLIC_BASE_URL": f"http://localhost:{web}",
    }


def haproxy_environment(lb_rasa: int, lb_actions: int, lb_stats: int,
                        servers: dict[str, int]) -> dict[str, str]:
    """The ${LB_*} variables of deploy/haproxy/haproxy.cfg for processes on 127.0.0.1."""
    return {"LB_BIND": "127.0.0.1", "LB_RASA_PORT": str(lb_rasa), "LB_ACTIONS_PORT": str(lb_actions),
            "LB_STATS_PORT": str(lb_stats),
            **{lb_variable(name): f"127.0.0.1:{port}" for name, port in servers.items()}}


class Cluster:
    """The five processes of the scaled-out deployment, each a `Stack` of one service."""

    def __init__(self, workdir: Path, stores: RunStores, overrides: Optional[dict[str, str]] = None,
                 with_web: bool = False) -> None:
        """`overrides`: environment of every process on top of the production profile's (the
        fault tests route the stores through their proxies); `with_web`: the web app too."""
        self.workdir, self.stores = workdir, stores
        lb_rasa, lb_actions, lb_stats, web, *own = _distinct_free_ports(8)
        self.lb_url = f"http://127.0.0.1:{lb_rasa}"
        self.stats_url = f"http://127.0.0.1:{lb_stats}/stats;csv"
        base = service_environment(
            {**os.environ, **production_environment(stores, lb_rasa, lb_actions, web), **(overrides or {})})
        self.ports = dict(zip([*RASA_REPLICAS, *ACTION_SERVERS], own))
        self.stacks: dict[str, Stack] = {}
        for name in RASA_REPLICAS:
            env = {**base, "RASA_PORT": str(self.ports[name])}
            credentials = channels.write_credentials(env, workdir / f"credentials.{name}.yml")
            self.stacks[name] = Stack(env, workdir, [rasa_service(env, credentials, name)])
        for name in ACTION_SERVERS:
            env = {**base, "ACTION_SERVER_PORT": str(self.ports[name])}
            self.stacks[name] = Stack(env, workdir, [action_service(env, name)])
        if with_web:
            self.stacks["web"] = Stack(base, workdir, [Service(
                "web", [str(APP_PYTHON), "-m", "autofinance.entrypoints.web"],
                f"http://127.0.0.1:{web}/health")])
        lb_env = {**base, **haproxy_environment(lb_rasa, lb_actions, lb_stats, self.ports)}
        self.stacks["haproxy"] = Stack(lb_env, workdir, [Service(
            "haproxy", [str(HAPROXY), "-db", "-f", str(HAPROXY_CONFIG)],
            f"http://127.0.0.1:{lb_stats}/stats")])

    @property
    def env(self) -> dict[str, str]:
        """The environment shared by every process (HAProxy's, which also has the LB_* ones)."""
        return self.stacks["haproxy"].env

    def url(self, target: str) -> str:
        """'lb' (through HAProxy) or a replica's name (directly)."""
        return self.lb_url if target == "lb" else f"http://127.0.0.1:{self.ports[target]}"

    def start(self) -> None:
        """Starts all five at once: the Rasa replicas load their models in parallel."""
        for stack in self.stacks.values():
            stack.start()

    def wait_until_ready(self, timeout: float) -> None:
        """Every process answers its health check and HAProxy sees every server up."""
        deadline = time.monotonic() + timeout
        for stack in self.stacks.values():
            stack.wait_until_healthy(timeout=max(1.0, deadline - time.monotonic()))
        while not all(state["status"] == "UP" for state in self.servers().values()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"HAProxy does not see every server up: {self.servers()}")
            time.sleep(0.5)

    def servers(self) -> dict[tuple[str, str], dict[str, str]]:
        """HAProxy's statistics of each (backend, server): 'status' (UP, DOWN...), 'stot' (sessions)."""
        with urllib.request.urlopen(self.stats_url, timeout=5) as response:
            rows = csv.DictReader(io.StringIO(response.read().decode().lstrip("# ")))
            return {(row["pxname"], row["svname"]): row for row in rows
                    if row["svname"] not in ("FRONTEND", "BACKEND")}

    def sessions(self, backend: str) -> dict[str, int]:
        """Requests each server of `backend` has taken so far."""
        return {server: int(row["stot"]) for (name, server), row in self.servers().items()
                if name == backend}

    def kill(self, name: str) -> None:
        """SIGKILL: the process gets no chance to finish what it is doing, as in a crash."""
        process = self.stacks[name].services[0].process
        assert process is not None
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def restart(self, name: str) -> None:
        """Starts a killed process again (as the launcher or an orchestrator would)."""
        stack = self.stacks[name]
        stack.start_one(stack.services[0])

    def healthy(self, name: str) -> bool:
        try:
            with urllib.request.urlopen(self.stacks[name].services[0].health_url, timeout=2) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def log(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        for stack in self.stacks.values():  # all told at once, then each waited for
            for service in stack.services:
                if service.process and service.process.poll() is None:
                    os.killpg(service.process.pid, signal.SIGTERM)
        for stack in self.stacks.values():
            stack.stop()
