"""The service's units of work: evaluate what is due, deliver what is pending.

Module-level functions with simple arguments, so the scheduler's persistent job store can hold
them; each opens its own connection (SQLite connections stay in their thread). ``now`` is a
parameter everywhere; only ``clock()`` reads the time, for the scheduled entry points.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from lifecycle import confirmations
from lifecycle.instance import Instance
from lifecycle.model import email_key
from lifecycle.rules import Decision, Recipient, Rules
from lifecycle.store import Register

from .mail import Composer
from .outbox import Message, Outbox
from .transport import PermanentFailure, TemporaryFailure, Transport, open_transport

log = logging.getLogger("policy_lifecycle")

# The service's clock: the real one, or one started at --now for a simulation; it still
# advances in real time. Set once by `serve` before the scheduler starts.
_clock_offset = timedelta(0)
STOP = threading.Event()


def set_clock(start: datetime | None, real_now: datetime) -> None:
    global _clock_offset
    _clock_offset = (start - real_now) if start else timedelta(0)


def clock(inst: Instance) -> datetime:
    return inst.now() + _clock_offset


def rules_for(register: Register, inst: Instance) -> tuple[Rules, dict[str, Recipient]]:
    recipients = {email_key(p.email): Recipient(email_key(p.email), p)
                  for p in register.people()}
    policies = register.policies()
    confirmed = {p.id: set(confirmations.confirmed(register, p.id, p.version))
                 for p in policies}
    return Rules(inst.config, policies, list(recipients.values()), confirmed), recipients


def evaluate(inst: Instance, now: datetime) -> list[Decision]:
    """Record every message due at ``now`` (and every stale stage skipped), in one transaction
    with the reading of the record it was decided from."""
    register = inst.register()
    try:
        outbox = Outbox(register)
        rules, recipients = rules_for(register, inst)
        people = {key: r.person for key, r in recipients.items()}
        with register.atomic():
            decisions = rules.due(outbox.record(), now)
            outbox.enqueue(decisions, people, inst.config.sender, now)
        for d in decisions:
            log.info("decided %s %s %s %s %s", d.action, d.kind, d.policy_id or "-",
                     d.stage or d.period, d.person)
        return decisions
    finally:
        register.close()


@dataclass
class Delivery:
    sent: list[Message] = field(default_factory=list)
    retrying: list[tuple[Message, str]] = field(default_factory=list)
    failed: list[tuple[Message, str]] = field(default_factory=list)
    interrupted: bool = False


# Messages handed to the sending thread and not yet confirmed: the one on the wire and the
# one queued behind it. After a crash these are sent again, with the same Message-ID.
IN_FLIGHT = 2


class _Sender(threading.Thread):
    """Sends on one connection while the main thread records and composes the next message,
    so composing overlaps the server's replies. Only the main thread touches the database."""

    def __init__(self, transport: Transport, now: datetime) -> None:
        super().__init__(name="smtp-sender", daemon=True)
        self.transport = transport
        self.now = now
        self.inbox: queue.Queue[tuple[Message, bytes] | None] = queue.Queue()
        self.results: queue.Queue[tuple[Message, Exception | None]] = queue.Queue()

    def run(self) -> None:
        while (item := self.inbox.get()) is not None:
            message, data = item
            try:
                self.transport.send(message.to_email, data, message.key, self.now)
                self.results.put((message, None))
            except (TemporaryFailure, PermanentFailure) as e:
                self.results.put((message, e))
            except Exception as e:  # noqa: BLE001 - reported as temporary, never lost
                self.results.put((message, TemporaryFailure(f"{type(e).__name__}: {e}")))


class _Run:
    """One delivery run's bookkeeping: applies the sender's results to the outbox."""

    def __init__(self, inst: Instance, outbox: Outbox, now: datetime) -> None:
        self.inst, self.outbox, self.now = inst, outbox, now
        self.result = Delivery()
        self.server_down = False
        self.in_flight = 0

    def settle(self, message: Message, error: Exception | None) -> None:
        outbox, now, result = self.outbox, self.now, self.result
        if error is None:
            outbox.mark_sent(message, now)
            result.sent.append(message)
            log.info("sent %s to %s %s", message.key, message.to_email, message.message_id)
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

    def drain(self, sender: _Sender, keep: int) -> None:
        """Settle finished messages; wait until at most ``keep`` remain in flight."""
        while True:
            try:
                block = self.in_flight > keep
                self.settle(*sender.results.get(block=block))
                self.in_flight -= 1
            except queue.Empty:
                return


def deliver(inst: Instance, now: datetime, stop: threading.Event | None = None) -> Delivery:
    """Send what is pending over one connection. Each message is marked in flight before it
    is handed over and marked sent after, so a crash loses nothing and sends again at most
    the IN_FLIGHT messages in hand. An unreachable server ends the run; the rest wait."""
    register = inst.register()
    outbox = Outbox(register)
    run = _Run(inst, outbox, now)
    pending = outbox.deliverable(now)
    if not pending:
        register.close()
        return run.result
    try:
        transport = open_transport(inst.config, inst.root / "mail")
    except BaseException:
        register.close()
        raise
    sender = _Sender(transport, now)
    sender.start()
    try:
        composer = Composer(register, inst.config, inst.root / "rendered",
                            confirmations.ensure_secret(inst.root))
        for message in pending:
            run.drain(sender, keep=IN_FLIGHT - 1)
            if run.server_down or (stop is not None and stop.is_set()):
                run.result.interrupted = not run.server_down
                break
            outbox.mark_sending(message)
            try:
                data = composer.compose(message, now)
            except Exception as e:  # noqa: BLE001 - one bad message must not stop the rest
                outbox.mark_failed(message, now, f"could not compose: {e}")
                run.result.failed.append((message, str(e)))
                log.exception("could not compose %s", message.key)
                continue
            sender.inbox.put((message, data))
            run.in_flight += 1
    finally:
        sender.inbox.put(None)
        sender.join()
        run.drain(sender, keep=0)
        sender.transport.close()
        register.close()
    return run.result


def scheduled_evaluate(data_dir: str) -> None:
    """Scheduler entry point: evaluate, then deliver what that decided."""
    inst = Instance.at(Path(data_dir))
    evaluate(inst, clock(inst))
    deliver(inst, clock(inst), STOP)


def scheduled_deliver(data_dir: str) -> None:
    """Scheduler entry point: deliver pending messages (retries come due here)."""
    inst = Instance.at(Path(data_dir))
    deliver(inst, clock(inst), STOP)
