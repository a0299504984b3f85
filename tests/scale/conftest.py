"""The scaled-out cluster, started once for the tests that talk to it (see cluster.py).

Without HAProxy, PostgreSQL, Redis or RabbitMQ those tests are reported as skipped with the
reason. The test that kills servers runs after every other one, since the cluster stays that way.
"""
from __future__ import annotations

from typing import Iterator, Optional

import pytest

from autofinance.entrypoints.stack import MODEL_PATH
from tests.e2e.conftest import reachable
from tests.scale.cluster import HAPROXY, Cluster, RunStores

STORES = (("PostgreSQL", 5432), ("Redis", 6379), ("RabbitMQ", 5672))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "kills_servers: stops servers of the shared cluster; runs after the other tests")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker("kills_servers") is not None)  # stable


def missing_prerequisite() -> Optional[str]:
    if not HAPROXY.exists():
        return f"no HAProxy at {HAPROXY}: install the 'haproxy' package (make test-scale does it as root)"
    for name, port in STORES:
        if not reachable("127.0.0.1", port):
            return f"{name} not reachable at 127.0.0.1:{port}: the scaled-out production profile needs it"
    return None


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    reason = missing_prerequisite()
    if reason:
        pytest.skip(reason)
    if not MODEL_PATH.exists():
        pytest.fail(f"no trained model at {MODEL_PATH}: run 'make train' (make test-scale does it first)")
    stores = RunStores.fresh()
    stores.create()
    try:
        running = Cluster(tmp_path_factory.mktemp("scale"), stores)
        running.start()
        try:
            stores.seed()  # while the Rasa replicas load their model
            try:
                running.wait_until_ready(timeout=240)
            except (RuntimeError, TimeoutError) as error:
                tails = "\n".join(f"--- {name}\n{running.log(name)[-2000:]}" for name in running.stacks)
                pytest.fail(f"the scaled-out cluster did not start: {error}\n{tails}")
            yield running
        finally:
            running.stop()
    finally:
        stores.drop()
