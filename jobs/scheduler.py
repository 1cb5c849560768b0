"""The service's schedule: APScheduler 3 triggers evaluation and delivery; our tables hold what
must happen.

Every job is periodic and every rule level-triggered, so the jobs live in memory: evaluation as
soon as the service starts covers whatever fell due while it was stopped, and nothing about the
schedule needs to survive a restart (LIBRARIES.md: "no persistent store for purely periodic
triggers"). One service per data directory, enforced by ``tasks.service_lock``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from lifecycle.register.instance import Instance
from lifecycle.values.errors import LifecycleError

from . import tasks

log = logging.getLogger("policy_lifecycle")
EVALUATE_EVERY_MINUTES = 15
DELIVER_EVERY_MINUTES = 1
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Clock = Callable[[], datetime]


@contextmanager
def _reported(job: str) -> Iterator[None]:
    """A problem the office can act on (the register busy too long, a missing SMTP password)
    is one log line; the job runs again at its next turn."""
    try:
        yield
    except LifecycleError as e:
        log.warning("%s postponed: %s", job, e)


class Service:
    """Evaluation and delivery on a background scheduler, one job at a time, on ``clock``
    (the real one, or a simulated one that started at --now). ``stop`` interrupts a delivery
    between two messages."""

    def __init__(self, inst: Instance, clock: Clock) -> None:
        self.inst = inst
        self.clock = clock
        self.stop = threading.Event()
        self._scheduler: Any = None

    def evaluate_and_deliver(self) -> None:
        with _reported("evaluation"):
            tasks.evaluate(self.inst, self.clock())
        self.deliver()

    def deliver(self) -> None:
        with _reported("delivery"):
            tasks.deliver(self.inst, self.clock(), self.stop)

    def start(self) -> None:
        """Start the jobs; the first evaluation runs at once, in the background."""
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler

        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(1)},  # one job at a time
            job_defaults={"coalesce": True, "misfire_grace_time": 3600, "max_instances": 1},
            timezone=self.inst.config.tz)
        for job_id, (func, trigger) in self.jobs().items():
            self._scheduler.add_job(func, trigger, id=job_id, name=job_id)
        self._scheduler.add_job(self.evaluate_and_deliver, id="start", name="start")
        self._scheduler.start()

    def jobs(self) -> dict[str, tuple[Callable[[], None], Any]]:
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        c = self.inst.config
        return {
            "evaluate": (self.evaluate_and_deliver,
                         IntervalTrigger(minutes=EVALUATE_EVERY_MINUTES)),
            "deliver": (self.deliver, IntervalTrigger(minutes=DELIVER_EVERY_MINUTES)),
            # A few minutes after the window opens on digest day (never 01:00-02:59: DST).
            "digest": (self.evaluate_and_deliver, CronTrigger(
                day_of_week=WEEKDAYS[c.digest_weekday], hour=c.window_start.hour,
                minute=min(59, c.window_start.minute + 5))),
        }

    def shutdown(self) -> None:
        """Stop after the message in hand: the rest stay pending for the next run."""
        self.stop.set()
        if self._scheduler is not None:
            log.info("stopping: finishing the message in hand")
            self._scheduler.shutdown(wait=True)
            log.info("stopped")
