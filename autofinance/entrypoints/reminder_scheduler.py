"""The reminder scheduler: each run takes the store's lease on the job, sends what is due
(services.reminders) with every reminder's transaction renewing that lease, and lets go of it
at a clean stop. Run by `python -m autofinance reminders --every N` (make run starts it)."""
from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import timedelta
from typing import Callable, Optional

from sqlalchemy.orm import Session

from autofinance.adapters.store.db import UnitOfWork
from autofinance.config import Settings
from autofinance.domain.clock import utcnow
from autofinance.services import job_lease, reminders

logger = logging.getLogger(__name__)

JOB = "reminders"
MIN_LEASE_SECONDS = 10


class Scheduler:
    """One scheduler process; `run_once` is one pass (None when another holds the lease)."""

    def __init__(self, uow: Callable[[], UnitOfWork], settings: Settings) -> None:
        self._uow, self._settings = uow, settings
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        # long enough for a pass between renewals, short enough that a killed scheduler's
        # successor starts soon
        self._ttl = timedelta(seconds=max(MIN_LEASE_SECONDS, 3 * settings.reminder_every_seconds))
        self._token: Optional[int] = None

    def run_once(self) -> Optional[reminders.RunReport]:
        with self._uow() as uow:
            self._token = job_lease.acquire(uow.session, JOB, self.holder, self._ttl)
            uow.commit()
        if self._token is None:
            return None
        try:
            return reminders.send_due_reminders(
                self._uow(), self._settings.reminders, self._settings.lender_timezone,
                self._settings.public_base_url, now=utcnow(), fence=self._fence)
        except job_lease.LeaseLost as lost:
            logger.warning("reminders: %s; stopping this pass", lost)
            return None

    def _fence(self, session: Session) -> None:
        assert self._token is not None
        job_lease.renew(session, JOB, self.holder, self._token, self._ttl)

    def stop(self) -> None:
        """Lets go of the lease so another scheduler need not wait for it to run out."""
        with self._uow() as uow:
            job_lease.release(uow.session, JOB, self.holder)
            uow.commit()
