"""What a person does with the register, as functions that every face calls: the command line
and the dashboard only format what these return. Each takes the instance and ``now``, opens the
register, owns its transaction, closes the register and returns plain values.

(``status.status`` is one too, kept beside the status row so that the most frequent command
loads the least; delivery and rendering are one layer up: ``jobs.tasks.tick`` and
``documents.publish.render_policies``.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .instance import Instance
from .model import AuditEntry, Cycle, Person, PolicyRecord, Review, Status, Version, email_key

if TYPE_CHECKING:   # each operation imports what it uses, so a command loads only that
    from .model import PolicySource
    from .outbox import Message
    from .people import ImportResult
    from .policies import NewText, ReviewOutcome, SyncResult
    from .rules import Batch, Rules
    from .store import Register


@dataclass(frozen=True)
class InitResult:
    path: Path
    created: bool
    schema_version: int
    synced: list[SyncResult]
    policies_dir: Path


def initialise(inst: Instance, now: datetime) -> InitResult:
    """Create the register if needed and import every ``data/policies/*.md``, all or nothing."""
    from .confirmations import ensure_secret
    from .policies import check_approver, sync_source
    from .sources import load_sources

    created = not inst.db_path.exists()
    sources = load_sources(inst.policies_dir)
    for source in sources:
        check_approver(source, inst.config.approvers)
    with inst.register(create=True) as register, register.transaction():
        synced = [sync_source(register, s, now) for s in sources]
        version = register.schema_version
    ensure_secret(inst.root)
    return InitResult(inst.db_path, created, version, synced, inst.policies_dir)


def people(inst: Instance) -> list[Person]:
    with inst.register() as register:
        return register.people()


def import_people(inst: Instance, path: Path, skip_invalid: bool, now: datetime) -> ImportResult:
    from .people import import_people as upsert_all

    with inst.register() as register:
        return upsert_all(register, path, skip_invalid, now)


def record_review(inst: Instance, policy_id: str, reviewed_on: date, next_due: date | None,
                  new: NewText | None, notes: str, now: datetime,
                  confirmed: bool = False) -> ReviewOutcome:
    from .policies import record_review as record

    with inst.register() as register:
        return record(register, inst.policies_dir, policy_id, reviewed_on, next_due, new,
                      notes, now, confirmed)


def add_policy(inst: Instance, fields: dict[str, object], new: NewText,
               now: datetime) -> PolicySource:
    from .policies import add_policy as add

    with inst.register() as register:
        return add(register, inst.policies_dir, fields, new, now, inst.config.approvers)


@dataclass(frozen=True)
class History:
    policy: PolicyRecord
    versions: list[Version]
    cycles: list[Cycle]
    reviews: list[Review]
    audit: list[AuditEntry]


def history(inst: Instance, policy_id: str) -> History:
    from .policies import require_policy

    with inst.register() as register:
        policy = require_policy(register, policy_id)
        return History(policy, register.versions(policy_id), register.cycles(policy_id),
                       register.reviews(policy_id), register.audit_log(policy_id))


def rules_for(register: Register, inst: Instance) -> tuple[Rules, dict[str, Person]]:
    """The rules over the register as it is now, and the directory by email key."""
    from .rules import Recipient, Rules

    people = {email_key(p.email): p for p in register.people()}
    policies = register.policies()
    confirmed = {p.id: set(register.confirmations(p.id, p.version)) for p in policies}
    recipients = [Recipient(key, person) for key, person in people.items()]
    drafts = {d.policy_id for d in register.drafts()}
    return Rules(inst.config, policies, recipients, confirmed,
                 register.meetings(include_cancelled=False), drafts), people


@dataclass(frozen=True)
class Plan:
    """What the service will decide to send over the coming days, if nothing changes."""

    start: datetime
    days: int
    batches: list[tuple[datetime, Batch]]   # sends only, in order
    people: dict[str, Person]

    @property
    def total(self) -> int:
        return sum(len(batch.people) for _, batch in self.batches)


def plan(inst: Instance, start: datetime, days: int) -> Plan:
    """The service's own evaluation run at future times, against a record read for it."""
    from .model import Action
    from .rules import forecast

    with inst.register() as register:
        rules, people = rules_for(register, inst)
        record = register.outbox.record()
    planned = forecast(rules, record, start, days)
    return Plan(start, days, [(at, b) for at, b in planned if b.action == Action.SEND], people)


@dataclass(frozen=True)
class OutboxView:
    messages: list[Message]         # with the status asked for, or all
    counts: dict[Status, int]       # of every message, by status


def outbox(inst: Instance, status: str | None = None) -> OutboxView:
    with inst.register() as register:
        box = register.outbox
        return OutboxView(box.messages(status=Status(status) if status else None), box.counts())


def retry_message(inst: Instance, message_id: int, now: datetime) -> Message:
    with inst.register() as register:
        return register.outbox.retry(message_id, now)

