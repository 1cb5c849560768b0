"""What a person does with the register, as functions that every face calls: the command line
and the dashboard only format what these return. Each takes the instance and ``now``, opens the
register, owns its transaction, closes the register and returns plain values.

(``status.status`` is one too, kept beside the status row so that the most frequent command
loads the least; delivery and rendering are one layer up: ``jobs.tasks.tick`` and
``documents.publish.render_policies``.)
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from lifecycle.register.instance import Instance
from lifecycle.values.errors import InputError, Remedy
from lifecycle.values.model import (
    AuditEntry,
    Cycle,
    Draft,
    Meeting,
    Person,
    PolicyRecord,
    Review,
    Status,
    Version,
)

T = TypeVar("T")

if TYPE_CHECKING:   # each operation imports what it uses, so a command loads only that
    from lifecycle.actions.meetings import Agenda, Approved, DraftAdded
    from lifecycle.actions.people import ImportResult, Preview
    from lifecycle.actions.personal_data import Erasure, ScrubFiles
    from lifecycle.actions.policies import NewText, ReviewOutcome, SyncResult
    from lifecycle.register.outbox import Message
    from lifecycle.register.store import Register
    from lifecycle.rules.due import Batch
    from lifecycle.values.catalogue import Entry, Standing
    from lifecycle.values.model import PolicySource


@dataclass(frozen=True)
class InitResult:
    path: Path
    created: bool
    schema_version: int
    synced: list[SyncResult]
    policies_dir: Path


def initialise(inst: Instance, now: datetime) -> InitResult:
    """Create the register if needed and import every ``data/policies/*.md``, all or nothing."""
    from lifecycle.actions.confirmations import ensure_secret
    from lifecycle.actions.policies import check_approver, check_statutory, sync_source
    from lifecycle.values.sources import load_sources

    created = not inst.db_path.exists()
    sources = load_sources(inst.policies_dir, inst.config.terms)
    for source in sources:
        check_approver(source, inst.config.approvers)
        check_statutory(source)
    with inst.register(create=True) as register, register.transaction():
        synced = [sync_source(register, s, now) for s in sources]
        version = register.schema_version
    ensure_secret(inst.root)
    return InitResult(inst.db_path, created, version, synced, inst.policies_dir)


def people(inst: Instance) -> list[Person]:
    with inst.register() as register:
        return register.people.all()


def import_people(inst: Instance, path: Path, skip_invalid: bool, now: datetime,
                  by: str, name: str = "") -> ImportResult:
    from lifecycle.actions import people

    with inst.register() as register:
        return people.import_people(register, path, skip_invalid, now, by, name)


def change_person(inst: Instance, change: Callable[[Register], T]) -> T:
    """A change to the directory (``people.add_person``, ``correct_person``, ``mark_leaver``)
    in one transaction."""
    with inst.register() as register, register.transaction():
        return change(register)


def export_person(inst: Instance, email: str, now: datetime) -> dict[str, Any]:
    from lifecycle.actions import personal_data

    with inst.register() as register:
        return personal_data.export_person(register, email, now)


def erase_person(inst: Instance, email: str, force: bool, now: datetime, by: str,
                 scrub_files: ScrubFiles) -> Erasure:
    from lifecycle.actions import personal_data

    with inst.register() as register:
        return personal_data.erase_person(register, email, now.date(), force, now, by, scrub_files)


def preview_people(inst: Instance, path: Path) -> Preview:
    from lifecycle.actions import people

    with inst.register() as register:
        return people.preview_people(register, path)


def record_review(inst: Instance, policy_id: str, reviewed_on: date, next_due: date | None,
                  new: NewText | None, notes: str, now: datetime,
                  confirmed: bool = False) -> ReviewOutcome:
    from lifecycle.actions import policies

    with inst.register() as register:
        return policies.record_review(register, inst.policies_dir, policy_id, reviewed_on, next_due,
                      new and _with_terms(inst, new), notes, now, confirmed)


def add_policy(inst: Instance, fields: dict[str, object], new: NewText,
               now: datetime) -> PolicySource:
    from lifecycle.actions import policies

    with inst.register() as register:
        return policies.add_policy(register, inst.policies_dir, fields, _with_terms(inst, new), now,
                   inst.config.approvers)


def _with_terms(inst: Instance, new: NewText) -> NewText:
    """A new text whose front matter may give its review date as one of the school's terms."""
    from dataclasses import replace

    return replace(new, terms=inst.config.terms)


def policy_fields(inst: Instance, entry_id: str | None,
                  given: dict[str, object]) -> dict[str, object]:
    """A new policy's front matter: the office's values, filled from a catalogue entry when
    one is named, else from the defaults (the first approving body, 3 years, staff)."""
    from lifecycle.values.catalogue import entry, fields_from, load_catalogue

    config = inst.config
    chosen = {k: v for k, v in given.items() if v is not None and v != ""}   # what was given
    defaults: dict[str, object] = {"approver": next(iter(config.approvers), "Governing Body"),
                                   "review_interval": "3 years", "reminder_audience": ["staff"]}
    if entry_id:
        try:
            found = entry(entry_id, load_catalogue())
        except InputError as e:
            raise InputError(e.message, field="statutory") from None
        defaults = fields_from(found, config.approvers)
    elif "title" not in chosen:
        raise InputError("a title is needed", field="title", remedy=Remedy.FROM_CATALOGUE)
    fields = {**defaults, **chosen}
    order = ("id", "title", "school", "approver", "adopted", "review_due", "review_interval",
             "audiences", "reminder_audience", "statutory", "publish")
    return {k: fields[k] for k in order if k in fields}


def catalogue(inst: Instance, today: date) -> list[Standing]:
    """Each statutory policy this school must keep, and its state in the register."""
    from lifecycle.values.catalogue import load_catalogue, standings

    with inst.register() as register:
        policies = register.policies.all()
        exempt = register.exemptions.all()
    config = inst.config
    found = standings(load_catalogue(), policies, config.school_type, config.phase, today,
                      exempt)
    return sorted(found, key=lambda s: s.entry.title.casefold())


def _entry(entry_id: str) -> Entry:
    """A catalogue entry named by the person marking it (an error names that argument)."""
    from lifecycle.values.catalogue import entry, load_catalogue

    try:
        return entry(entry_id, load_catalogue())
    except InputError as e:
        raise InputError(e.message, field="entry") from None


def mark_not_applicable(inst: Instance, entry_id: str, reason: str, who: str,
                        now: datetime) -> Entry:
    """The school says a statutory entry does not apply here, and why (never without)."""
    found = _entry(entry_id)
    if not reason.strip():
        raise InputError("say why it does not apply here (it is shown with the entry)",
                         field="reason")
    with inst.register() as register:
        register.exemptions.mark(found.id, " ".join(reason.split()), who, now)
    return found


def mark_applicable(inst: Instance, entry_id: str, who: str, now: datetime) -> Entry:
    found = _entry(entry_id)
    with inst.register() as register:
        register.exemptions.clear(found.id, who, now)
    return found


@dataclass(frozen=True)
class History:
    policy: PolicyRecord
    versions: list[Version]
    cycles: list[Cycle]
    reviews: list[Review]
    audit: list[AuditEntry]


def history(inst: Instance, policy_id: str) -> History:
    from lifecycle.actions.policies import require_policy

    with inst.register() as register:
        policy = require_policy(register, policy_id)
        policies = register.policies
        return History(policy, policies.versions(policy_id), policies.cycles(policy_id),
                       policies.reviews(policy_id), register.audit.log(policy_id))


@dataclass(frozen=True)
class Plan:
    """What the service will decide to send over the coming days, if nothing changes."""

    start: datetime
    days: int
    batches: list[tuple[datetime, Batch]]   # sends only, in order
    people: dict[str, Person]
    due_text: dict[str, str]                # policy -> "Summer 2 2027 (by 22 July 2027)"
    going: dict[Hashable, datetime] = field(default_factory=dict)  # paced: (batch, person)
    waiting: int = 0                        # already in the outbox, going first

    @property
    def total(self) -> int:
        return sum(len(batch.people) for _, batch in self.batches)

    @property
    def waiting_until(self) -> datetime | None:
        """When the last of the messages already waiting goes (None: no limits, or none)."""
        return max((t for k, t in self.going.items() if isinstance(k, tuple)
                    and k[0] == "waiting"), default=None)

    def goes(self, index: int, person: str) -> datetime:
        """When the message to ``person`` of batch ``index`` really goes: when it is decided,
        unless the mail provider's limits make it wait."""
        return self.going.get((index, person), self.batches[index][0])


def plan(inst: Instance, start: datetime, days: int) -> Plan:
    """The service's own evaluation run at future times, against a record read for it."""
    from lifecycle.actions.snapshot import rules_for
    from lifecycle.rules.due import forecast
    from lifecycle.rules.pacing import DAY, Limits, schedule
    from lifecycle.values.model import Action
    from lifecycle.values.terms import due_phrase, term_ending

    limits = Limits(*inst.config.limits)
    with inst.register() as register:
        rules, people = rules_for(register, inst)
        record = register.outbox.record(*rules.history_needed(start.date()))
        waiting = register.outbox.waiting() if limits else []
        sent = register.outbox.sent_times(start - DAY) if limits else []
    planned = forecast(rules, record, start, days)
    terms = inst.config.terms
    due_text = {p.id: due_phrase(p.review_due, terms) for p in rules.policies
                if term_ending(p.review_due, terms)}
    sends = [(at, b) for at, b in planned if b.action == Action.SEND]
    going = schedule(limits, sent, [
        *((max(ready, start), kind, ("waiting", ident)) for ready, kind, ident in waiting),
        *((at, b.kind, (i, person)) for i, (at, b) in enumerate(sends) for person in b.people)
    ]) if limits else {}
    return Plan(start, days, sends, people, due_text, going, len(waiting))


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



def meetings(inst: Instance) -> list[tuple[Meeting, Agenda]]:
    """Every meeting with its agenda as the register stands (cancelled ones with none)."""
    from lifecycle.actions.meetings import Agenda, meeting_agenda

    with inst.register() as register:
        return [(m, Agenda(m, [], {}, None) if m.cancelled else meeting_agenda(register, m))
                for m in register.meetings.all()]


def add_meeting(inst: Instance, body: str, day: date, at: time | None, name: str | None,
                now: datetime) -> Meeting:
    from lifecycle.actions import meetings

    with inst.register() as register:
        return meetings.add_meeting(register, inst.config.approvers, body, day, at, name, now)


def cancel_meeting(inst: Instance, body: str, day: date, now: datetime) -> Meeting:
    from lifecycle.actions import meetings

    with inst.register() as register:
        return meetings.cancel_meeting(register, body, day, now)


def drafts(inst: Instance) -> list[Draft]:
    with inst.register() as register:
        return register.drafts.all()


def add_draft(inst: Instance, policy_id: str, new: NewText, note: str,
              now: datetime) -> DraftAdded:
    from lifecycle.actions import meetings

    with inst.register() as register:
        return meetings.add_draft(register, policy_id, _with_terms(inst, new), note, now)


def discard_draft(inst: Instance, policy_id: str, now: datetime) -> Draft:
    from lifecycle.actions import meetings

    with inst.register() as register:
        return meetings.discard_draft(register, policy_id, now)


def approve(inst: Instance, policy_id: str, meeting_day: date, minute: str,
            next_due: date | None, notes: str, recorded_by: str, now: datetime,
            changed_since_pack: bool = False) -> Approved:
    from lifecycle.actions import meetings

    with inst.register() as register:
        return meetings.approve(register, inst.policies_dir, policy_id, meeting_day, minute,
                                next_due, notes, recorded_by, now, changed_since_pack)

