"""make run's workers: the reminder scheduler always, the delivery worker with real senders."""
from __future__ import annotations

from autofinance.entrypoints.stack import worker_services


def test_the_demo_runs_the_scheduler_and_leaves_the_outbox_as_the_end_of_the_line() -> None:
    (scheduler,) = worker_services({"REMINDER_EVERY_SECONDS": "15"})

    assert scheduler.command[-4:] == ["autofinance", "reminders", "--every", "15"]
    assert scheduler.health_url is None  # up while it runs


def test_with_real_senders_the_delivery_worker_runs_too() -> None:
    names = [(w.name, w.command[3]) for w in worker_services({"NOTIFIER": "smtp"})]

    assert names == [("reminders", "reminders"), ("delivery", "deliver-outbox")]
