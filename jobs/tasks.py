"""The service's units of work: evaluate what is due, deliver what is pending.

Module-level functions with simple arguments, so the scheduler's persistent job store can hold
them; each opens its own connection (SQLite connections stay in their thread). ``now`` is a
parameter everywhere; only ``clock()`` reads the time, for the scheduled entry points.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from lifecycle.instance import Instance
from lifecycle.model import email_key
from lifecycle.rules import Decision, Recipient, Rules
from lifecycle.store import Register

from .mail import Composer
from .outbox import Message, Outbox
from .transport import PermanentFailure, TemporaryFailure, open_transport

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
    return Rules(inst.config, register.policies(), list(recipients.values())), recipients


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


def deliver(inst: Instance, now: datetime, stop: threading.Event | None = None) -> Delivery:
    """Send what is pending over one connection. Each message is marked in flight before it
    is sent and sent after, so a crash loses nothing and resends at most the one in hand."""
    register = inst.register()
    result = Delivery()
    transport = open_transport(inst.config, inst.root / "mail")
    try:
        outbox = Outbox(register)
        composer = Composer(register, inst.config, inst.root / "rendered")
        retry_for = timedelta(hours=inst.config.retry_for_hours)
        for message in outbox.deliverable(now):
            if stop is not None and stop.is_set():
                result.interrupted = True
                break
            outbox.mark_sending(message)
            try:
                mail = composer.compose(message, now)
            except Exception as e:  # noqa: BLE001 - one bad message must not stop the rest
                outbox.mark_failed(message, now, f"could not compose: {e}")
                result.failed.append((message, str(e)))
                log.exception("could not compose %s", message.key)
                continue
            try:
                transport.send(message.to_email, mail, message.key, now)
            except PermanentFailure as e:
                outbox.mark_failed(message, now, str(e))
                result.failed.append((message, str(e)))
                log.warning("failed %s to %s: %s", message.key, message.to_email, e)
                continue
            except TemporaryFailure as e:
                if outbox.mark_retry(message, now, str(e), retry_for):
                    hours = inst.config.retry_for_hours
                    result.failed.append((message, f"gave up after {hours} hours: {e}"))
                else:
                    result.retrying.append((message, str(e)))
                log.warning("retry %s to %s: %s", message.key, message.to_email, e)
                if e.connection:
                    break  # the server is unreachable: the rest wait for the next run
                continue
            outbox.mark_sent(message, now)
            result.sent.append(message)
            log.info("sent %s to %s %s", message.key, message.to_email, message.message_id)
    finally:
        transport.close()
        register.close()
    return result


def scheduled_evaluate(data_dir: str) -> None:
    """Scheduler entry point: evaluate, then deliver what that decided."""
    inst = Instance.at(Path(data_dir))
    evaluate(inst, clock(inst))
    deliver(inst, clock(inst), STOP)


def scheduled_deliver(data_dir: str) -> None:
    """Scheduler entry point: deliver pending messages (retries come due here)."""
    inst = Instance.at(Path(data_dir))
    deliver(inst, clock(inst), STOP)
