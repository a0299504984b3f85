"""The production profile scaled out (two Rasa replicas, two action servers behind HAProxy, the
web app), with PostgreSQL, Redis and RabbitMQ each reached through a `FaultProxy`, so that a
test can stop, slow or cut a store without touching the machine's own server."""
from __future__ import annotations

from typing import Iterator

import pytest

from autofinance.entrypoints.stack import MODEL_PATH
from tests.faults.proxy import FaultProxy
from tests.scale.cluster import Cluster, RunStores
from tests.scale.conftest import missing_prerequisite

# Each conversation of the load is a new synthetic customer: a customer's one-time codes are
# limited per hour, and a real customer does not verify thirty times in two minutes.
SYNTHETIC_CUSTOMERS = 600


class FaultyCluster(Cluster):
    """A cluster whose stores sit behind proxies: `proxies['postgresql' | 'redis' | 'rabbitmq']`."""

    proxies: dict[str, FaultProxy]


@pytest.fixture(scope="session")
def faulty_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultyCluster]:
    reason = missing_prerequisite()
    if reason:
        pytest.fail(f"the fault tests need the production profile's servers: {reason}")
    if not MODEL_PATH.exists():
        pytest.fail(f"no trained model at {MODEL_PATH}: run 'make train' (make test-faults does it first)")
    proxies = {"postgresql": FaultProxy(5432), "redis": FaultProxy(6379), "rabbitmq": FaultProxy(5672)}
    stores = RunStores.fresh()
    stores.create()
    postgres = proxies["postgresql"].port
    overrides = {
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{postgres}/{stores.accounts_db}",
        "TRACKER_DB_PORT": str(postgres),
        "REDIS_PORT": str(proxies["redis"].port),
        "RABBITMQ_PORT": str(proxies["rabbitmq"].port),
    }
    try:
        running = Cluster(tmp_path_factory.mktemp("faults"), stores, overrides, with_web=True)
        running.__class__ = FaultyCluster
        running.proxies = proxies  # type: ignore[attr-defined]
        running.start()
        try:
            stores.seed(SYNTHETIC_CUSTOMERS)
            try:
                running.wait_until_ready(timeout=240)
            except (RuntimeError, TimeoutError) as error:
                tails = "\n".join(f"--- {name}\n{running.log(name)[-2000:]}" for name in running.stacks)
                pytest.fail(f"the cluster did not start: {error}\n{tails}")
            yield running  # type: ignore[misc]
        finally:
            running.stop()
    finally:
        for proxy in proxies.values():
            proxy.close()
        stores.drop()
