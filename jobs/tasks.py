"""The service's units of work: evaluate what is due, deliver what is pending, and ``tick``,
which does both once for the command line.

``now`` is a parameter everywhere; the caller (a command, or the service's scheduled job)
reads the clock. Each unit opens its own connection (SQLite connections stay in their thread).
"""

from __future__ import annotations

import fcntl
import itertools
import logging
import os
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO

from lifecycle.actions.confirmations import ensure_secret
from lifecycle.actions.snapshot import rules_for
from lifecycle.register.instance import Instance
from lifecycle.register.outbox import Message, Outbox, Pause
from lifecycle.rules.due import Decision
from lifecycle.rules.pacing import DAY, Limits, allowance
from lifecycle.values.errors import InstanceError, LifecycleError
from lifecycle.values.model import Action

from .mail.composer import Composer
from .transport import (
    SETUP_PAUSE,
    PermanentFailure,
    SetupFailure,
    TemporaryFailure,
    Throttled,
    Transport,
    open_transport,
)

log = logging.getLogger("policy_lifecycle")
LOCK_FILE = "service.lock"


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


def evaluate(inst: Instance, now: datetime) -> list[Decision]:
    """Record every message due at ``now`` (and every stale stage skipped), in one transaction
    with the reading of the register and the record it was decided from."""
    with inst.register() as register, register.transaction():
        rules, people = rules_for(register, inst)
        record = register.outbox.record(*rules.history_needed(now.date()))
        decisions = rules.due(record, now)
        register.outbox.enqueue(decisions, people, inst.config.sender, now)
    groups: dict[tuple[str, str, str], int] = {}
    for d in decisions:
        if d.action == Action.SEND:
            key = (str(d.kind), d.policy_id or "-", d.stage or d.period)
            groups[key] = groups.get(key, 0) + 1
    for (kind, policy_id, which), n in groups.items():
        log.info("decided send %s %s %s: %d", kind, policy_id, which, n)
    skipped = len(decisions) - sum(groups.values())
    if skipped:   # one line, not one per stage (a first start after years skips hundreds)
        log.info("skipped %d stale stages, out of date before they could be sent", skipped)
    return decisions


@dataclass
class Delivery:
    sent: list[Message] = field(default_factory=list)
    retrying: list[tuple[Message, str]] = field(default_factory=list)
    failed: list[tuple[Message, str]] = field(default_factory=list)
    interrupted: bool = False
    paused: Pause | None = None       # stopped (now or earlier) for the set-up or the pace
    held_back: bool = False           # more was due than the provider's limits let go now


# Messages handed to the sending thread and not yet confirmed: the one on the wire and the
# one queued behind it. After a crash these are sent again, with the same Message-ID.
IN_FLIGHT = 2
STOP_GRACE_SECONDS = 3     # how long a stopping service waits for the server's answers
POLL_SECONDS = 0.1


class _Sender(threading.Thread):
    """Sends on one connection while the main thread records and composes the next message,
    so composing overlaps the server's replies. Only the main thread touches the database."""

    def __init__(self, transport: Transport, now: datetime) -> None:
        super().__init__(name="smtp-sender", daemon=True)
        self.transport = transport
        self.now = now
        self.inbox: queue.SimpleQueue[tuple[Message, bytes] | None] = queue.SimpleQueue()
        self.results: queue.SimpleQueue[tuple[Message, Exception | None]] = queue.SimpleQueue()

    def run(self) -> None:
        halted: Exception | None = None     # after a set-up or pace failure, try no more
        while (item := self.inbox.get()) is not None:
            message, data = item
            if halted is not None:
                self.results.put((message, halted))
                continue
            try:
                self.transport.send(message.to_email, data, message.key, self.now)
                self.results.put((message, None))
            except (TemporaryFailure, PermanentFailure) as e:
                self.results.put((message, e))
            except (SetupFailure, Throttled) as e:
                halted = e
                self.results.put((message, e))
            except Exception as e:  # noqa: BLE001 - reported as temporary, never lost
                self.results.put((message, TemporaryFailure(f"{type(e).__name__}: {e}")))


class _Run:
    """One delivery run's bookkeeping: applies the sender's results to the outbox. Messages
    the server accepted are marked sent in the commit that hands over the next one (or at
    the end): one commit per message, not two."""

    def __init__(self, inst: Instance, outbox: Outbox, now: datetime) -> None:
        self.inst, self.outbox, self.now = inst, outbox, now
        self.result = Delivery()
        self.server_down = False
        self.in_flight = 0
        self.accepted: list[Message] = []      # sent, not yet marked so

    def hand_over(self, message: Message, subject: str) -> None:
        self.outbox.mark_sending(message, subject, self.accepted, self.now)
        self.accepted = []

    def flush(self) -> None:
        if self.accepted:
            self.outbox.mark_sent(self.accepted, self.now)
            self.accepted = []

    def settle(self, message: Message, error: Exception | None) -> None:
        outbox, now, result = self.outbox, self.now, self.result
        if error is None:
            self.accepted.append(message)
            result.sent.append(message)
            log.info("sent %s to %s %s", message.key, message.to_email, message.message_id)
        elif isinstance(error, SetupFailure | Throttled):
            outbox.hold(message, str(error))
            if self.result.paused is None:
                self.pause(error)
            log.warning("held %s to %s: %s", message.key, message.to_email, error)
        elif isinstance(error, PermanentFailure):
            outbox.mark_failed(message, now, str(error))
            result.failed.append((message, str(error)))
            log.warning("failed %s to %s: %s", message.key, message.to_email, error)
        else:
            retry_for = timedelta(hours=self.inst.config.retry_for_hours)
            if outbox.mark_retry(message, now, str(error), retry_for):
                hours = self.inst.config.retry_for_hours
                result.failed.append((message, f"gave up after {hours} hours: {error}"))
            else:
                result.retrying.append((message, str(error)))
            log.warning("retry %s to %s: %s", message.key, message.to_email, error)
            self.server_down |= isinstance(error, TemporaryFailure) and error.connection

    def pause(self, error: SetupFailure | Throttled | LifecycleError,
              wait: timedelta = SETUP_PAUSE) -> None:
        """Stop this run, and the next ones until the pause ends; every message waits."""
        cause, wait = ("throttled", error.wait) if isinstance(error, Throttled) \
            else ("sign-in", wait)
        pause = Pause(self.now, self.now + wait, cause, str(error))
        self.outbox.pause(pause)
        self.result.paused = pause
        self.server_down = True

    def drain(self, sender: _Sender, keep: int, stop: threading.Event) -> bool:
        """Settle finished messages; wait until at most ``keep`` remain in flight. False if
        told to stop and the server has not answered within STOP_GRACE_SECONDS."""
        stopping_since: float | None = None
        while True:
            must_wait = self.in_flight > keep
            try:
                self.settle(*(sender.results.get(timeout=POLL_SECONDS) if must_wait
                              else sender.results.get_nowait()))
                self.in_flight -= 1
            except queue.Empty:
                if not must_wait:
                    return True
                if stop.is_set():
                    stopping_since = stopping_since or time.monotonic()
                    if time.monotonic() - stopping_since > STOP_GRACE_SECONDS:
                        return False


def deliver(inst: Instance, now: datetime, stop: threading.Event | None = None) -> Delivery:
    """Send what is pending over one connection. Each message is marked in flight before it
    is handed over and marked sent after, so a crash loses nothing and sends again at most
    the IN_FLIGHT messages in hand. An unreachable server ends the run; the rest wait.

    ``stop`` ends the run after the message in hand; if the server does not answer within
    STOP_GRACE_SECONDS the run returns anyway (a hung server must not hold up a service
    that is asked to stop) and the messages in flight stay "sending": they go again, with
    the same Message-ID, at the next start."""
    stop = stop or threading.Event()
    with inst.register() as register:
        outbox = register.outbox
        run = _Run(inst, outbox, now)
        run.result.paused = outbox.paused(now)
        room = _room(inst, outbox, now)
        pending = outbox.deliverable(now)
        first = None if run.result.paused or room == 0 else next(pending, None)
        run.result.held_back = room == 0 and next(outbox.deliverable(now), None) is not None
        if first is None:
            return run.result
        try:
            transport = open_transport(inst.config, inst.root / "mail")
        except LifecycleError as e:   # a missing secret or key: recorded, not waited out
            run.pause(e, wait=timedelta(0))
            log.warning("delivery paused: %s", e)
            return run.result
        sender = _Sender(transport, now)
        sender.start()
        answered = True
        try:
            composer = Composer(register, inst.config, inst.root / "rendered",
                                ensure_secret(inst.root))
            for handed, message in enumerate(itertools.chain([first], pending)):
                answered = run.drain(sender, IN_FLIGHT - 1, stop)
                if not answered or run.server_down or stop.is_set():
                    run.result.interrupted = not run.server_down
                    break
                if room is not None and handed >= room:
                    run.result.held_back = True
                    break
                try:
                    subject, data = composer.compose(message, now)
                except Exception as e:  # noqa: BLE001 - one bad message must not stop the rest
                    outbox.mark_failed(message, now, f"could not compose: {e}")
                    run.result.failed.append((message, str(e)))
                    log.exception("could not compose %s", message.key)
                    continue
                run.hand_over(message, subject)
                sender.inbox.put((message, data))
                run.in_flight += 1
        finally:
            sender.inbox.put(None)
            if answered and run.drain(sender, 0, stop):
                sender.join()
                sender.transport.close()
            else:            # the sender thread is a daemon: it ends with the process
                log.warning("stopped with %d message(s) unanswered: they stay 'sending' and go "
                            "again, with the same Message-ID, at the next start", run.in_flight)
            run.flush()
    return run.result


def _room(inst: Instance, outbox: Outbox, now: datetime) -> int | None:
    """How many messages the provider's limits let go now (None: no limit)."""
    limits = Limits(*inst.config.limits)
    return allowance(limits, outbox.sent_times(now - DAY), now) if limits else None


@dataclass(frozen=True)
class TickResult:
    now: datetime
    decisions: list[Decision]
    delivery: Delivery

    @property
    def sends(self) -> list[Decision]:
        return [d for d in self.decisions if d.action == Action.SEND]


def tick(inst: Instance, now: datetime) -> TickResult:
    """Evaluate and deliver once, as the service would at ``now`` (never beside a running
    service on the same data)."""
    inst.register().close()          # a clear error before init, before taking the lock
    with service_lock(inst.root):
        decisions = evaluate(inst, now)
        return TickResult(now, decisions, deliver(inst, now))
