"""`serve`: APScheduler 3 triggers evaluation and delivery; our tables hold what must happen.

Jobs live in a persistent SQLite job store in data/ with stable ids, coalescing and a misfire
grace time, so a restart neither loses nor doubles a run (and evaluation at start covers
anything missed while stopped). One service per data directory, enforced by a lock file.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from lifecycle.errors import InstanceError
from lifecycle.instance import Instance

from . import tasks

log = logging.getLogger("policy_lifecycle")
LOCK_FILE = "service.lock"
JOBSTORE_FILE = "scheduler.db"
EVALUATE_EVERY_MINUTES = 15
DELIVER_EVERY_MINUTES = 1


@contextmanager
def service_lock(root: Path) -> Iterator[None]:
    """Held while a process evaluates or delivers for this data directory; the kernel frees it
    when the process dies, however it dies."""
    path = root / LOCK_FILE
    handle: IO[str] = open(path, "a+")  # noqa: SIM115 - held for the block's lifetime
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "another process"
        handle.close()
        raise InstanceError(f"{root}: the service is already running (pid {owner}); "
                            "stop it first, or use 'plan' and 'outbox' to look") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    try:
        yield
    finally:
        handle.close()


def build_scheduler(inst: Instance) -> Any:
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    return BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=f"sqlite:///{inst.root / JOBSTORE_FILE}")},
        executors={"default": ThreadPoolExecutor(1)},  # one job at a time: no two deliveries
        job_defaults={"coalesce": True, "misfire_grace_time": 3600, "max_instances": 1},
        timezone=inst.config.tz,
    )


def add_jobs(scheduler: Any, inst: Instance) -> None:
    """Stable ids; added only when missing, so a restart keeps each job's next run time
    (replacing them before start loses the run that was missed: APScheduler #696)."""
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    data = str(inst.root.resolve())
    c = inst.config
    digest_day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[c.digest_weekday]
    jobs = {
        "evaluate": (tasks.scheduled_evaluate, IntervalTrigger(minutes=EVALUATE_EVERY_MINUTES)),
        "deliver": (tasks.scheduled_deliver, IntervalTrigger(minutes=DELIVER_EVERY_MINUTES)),
        # A few minutes after the window opens on digest day (never 01:00-02:59: DST).
        "digest": (tasks.scheduled_evaluate, CronTrigger(
            day_of_week=digest_day, hour=c.window_start.hour,
            minute=min(59, c.window_start.minute + 5))),
    }
    for job_id, (func, trigger) in jobs.items():
        job = scheduler.get_job(job_id)
        if job is None:
            scheduler.add_job(func, trigger, id=job_id, args=[data], name=job_id)
        elif str(job.trigger) != str(trigger) or job.args != (data,):
            # the configuration changed since the job was stored (say, the digest day)
            scheduler.modify_job(job_id, args=[data])
            scheduler.reschedule_job(job_id, trigger=trigger)


def serve(inst: Instance, start: datetime | None, real_now: datetime, bind: str) -> None:
    """Run until SIGTERM or Ctrl-C: the scheduler in the background, the web application in
    the foreground on ``bind``; then finish the message in hand and stop."""
    tasks.set_clock(start, real_now)
    tasks.STOP.clear()
    with service_lock(inst.root):
        inst.register(create=False).close()
        stop = tasks.STOP
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        log.info("serving %s (clock %s)", inst.root, tasks.clock(inst).isoformat())
        tasks.scheduled_evaluate(str(inst.root))
        scheduler = build_scheduler(inst)
        scheduler.start(paused=True)
        add_jobs(scheduler, inst)
        scheduler.resume()
        try:
            if not stop.is_set():
                run_web(inst, bind)
        finally:
            stop.set()
            log.info("stopping: finishing the message in hand")
            scheduler.shutdown(wait=True)
            log.info("stopped")


def run_web(inst: Instance, bind: str) -> None:
    """uvicorn in this (the main) thread; it returns on SIGTERM or Ctrl-C."""
    import uvicorn

    from web.app import create_app

    host, _, port = bind.rpartition(":")
    app = create_app(inst, clock=lambda: tasks.clock(inst))
    config = uvicorn.Config(app, host=host.strip("[]"), port=int(port), log_config=None,
                            access_log=False, loop="uvloop", http="httptools",
                            timeout_graceful_shutdown=10)
    log.info("web pages on http://%s/ (links in messages use %s)", bind, inst.config.base_url)
    uvicorn.Server(config).run()
