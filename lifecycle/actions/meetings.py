"""Meetings of the approving bodies, drafts, and approval at a meeting: what the office does
with them, each in one transaction. Which policies a meeting considers is ``agenda.py``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

from lifecycle.actions.policies import (
    Approving,
    NewText,
    ReviewOutcome,
    accident_reasons,
    check_body,
    new_text_body,
    record_review,
    require_policy,
    same_title_case,
)
from lifecycle.register.store import Register
from lifecycle.rules.agenda import AgendaItem, agenda, stale_dates
from lifecycle.values.dates import long_date
from lifecycle.values.errors import InputError, LifecycleError, Remedy
from lifecycle.values.model import Draft, Kind, Meeting, PolicyRecord, Review, text_hash


class ChangedSincePack(LifecycleError):
    """The draft being approved is not the one the review pack carried."""

    remedy = Remedy.CHANGED_SINCE_PACK

    def __init__(self, policy_id: str, uploaded: datetime, pack: datetime) -> None:
        super().__init__(
            f"the draft was replaced on {long_date(uploaded.date())} at {uploaded:%H:%M}, after "
            f"the review pack went out ({long_date(pack.date())}): the governors may not have "
            "seen this text")


def add_meeting(register: Register, bodies: dict[str, tuple[str, ...]], body: str, day: date,
                at: time | None, name: str | None, now: datetime) -> Meeting:
    check_body(body, bodies, "approving_body")
    with register.transaction():
        if register.meetings.on(body, day) is not None:
            raise InputError(f"the {body} already meets on {long_date(day)}", field="meeting_day")
        return register.meetings.add(body, day, at, name or f"{body} meeting", now)


def cancel_meeting(register: Register, body: str, day: date, now: datetime) -> Meeting:
    """Cancel a meeting; a review pack not yet sent for it never will be."""
    with register.transaction():
        meeting = require_meeting(register, body, day, "meeting_day")
        register.meetings.cancel(meeting, now)
        register.outbox.skip_pending(Kind.PACK, f"m{meeting.id}", now)
        return meeting


def require_meeting(register: Register, body: str, day: date, field: str) -> Meeting:
    meeting = register.meetings.on(body, day)
    if meeting is None:
        known = [m.day.isoformat() for m in register.meetings.all(include_cancelled=False)
                 if m.body == body]
        raise InputError(f"the {body} has no meeting on {day} in the register (known: "
                         f"{', '.join(known) or 'none'})", field=field,
                         remedy=Remedy.ADD_MEETING)
    return meeting


@dataclass(frozen=True)
class Agenda:
    meeting: Meeting
    items: list[AgendaItem]
    drafts: dict[str, Draft]
    pack_sent: datetime | None
    decided: list[tuple[PolicyRecord, Review]] = field(default_factory=list)  # approved there

    @property
    def size(self) -> int:
        """The policies it considers: still to decide, and decided."""
        return len(self.items) + len(self.decided)


def meeting_agenda(register: Register, meeting: Meeting) -> Agenda:
    """What the meeting considers: the policies still to decide, and those it decided (a
    held meeting keeps its record: what was approved, under which minute, by whom)."""
    drafts = {d.policy_id: d for d in register.drafts.all()}
    policies = register.policies.all()
    by_id = {p.id: p for p in policies}
    decided = [(by_id[policy_id], review)
               for policy_id, review in register.policies.approved_at(meeting.id)
               if policy_id in by_id]
    done = {p.id for p, _ in decided}
    items = [i for i in agenda(meeting, register.meetings.all(include_cancelled=False),
                               policies, set(drafts)) if i.policy.id not in done]
    return Agenda(meeting, items, drafts,
                  register.outbox.first_decided(Kind.PACK, f"m{meeting.id}"), decided)


@dataclass(frozen=True)
class DraftAdded:
    draft: Draft
    replaced: Draft | None
    warnings: list[str]


def add_draft(register: Register, policy_id: str, new: NewText, note: str,
              now: datetime) -> DraftAdded:
    """The policy's open draft (a new upload replaces the old, which stays in history),
    with warnings about old dates and what looks like an accident."""
    with register.transaction():
        policy = require_policy(register, policy_id)
        _, body = new_text_body(policy, new)
        current = register.policies.version(policy.id, policy.version)
        old = current.body if current else ""
        body = same_title_case(old, body)
        if text_hash(body) == policy.sha256:
            raise InputError(f"is the same text as version {policy.version}: nothing to draft",
                             file=new.path, remedy=Remedy.APPROVE_UNCHANGED,
                             policy_id=policy_id)
        replaced = register.drafts.open(policy_id)
        draft = register.drafts.add(policy_id, body, text_hash(body), note, new.file_name, now)
    warnings = [f"this text looks like an accident: {r}" for r in accident_reasons(old, body)]
    warnings += old_dates(body, now.date())
    return DraftAdded(draft, replaced, warnings)


def old_dates(body: str, today: date) -> list[str]:
    return [f'it still names an old date: "{s}"' for s in stale_dates(body, today.year)]


def discard_draft(register: Register, policy_id: str, now: datetime) -> Draft:
    with register.transaction():
        require_policy(register, policy_id)
        draft = register.drafts.close(policy_id, "discarded", now)
        if draft is None:
            raise InputError(f"{policy_id} has no open draft", field="policy")
        return draft


@dataclass(frozen=True)
class Approved:
    outcome: ReviewOutcome
    meeting: Meeting
    draft: Draft | None
    sha256: str
    warnings: list[str]


def approve(register: Register, policies_dir: Path, policy_id: str, meeting_day: date,
            minute: str, next_due: date | None, notes: str, recorded_by: str, now: datetime,
            changed_since_pack: bool = False) -> Approved:
    """Adopt the open draft as approved at a meeting (or record "reviewed, no changes"),
    binding the review to the meeting, the minute and the SHA-256 of the text."""
    with register.transaction():
        policy = require_policy(register, policy_id)
        meeting = require_meeting(register, policy.approver, meeting_day, "meeting")
        if meeting.day > now.date():
            raise InputError(f"the meeting on {meeting.day} has not happened yet (today is "
                             f"{now.date()})", field="meeting")
        if policy.cycle_opened >= meeting.day and policy.cycle > 1:
            raise InputError(f"{policy_id} has no review open at the meeting on {meeting.day}: "
                             f"it was last reviewed on {policy.cycle_opened}",
                             field="meeting")
        draft = register.drafts.open(policy_id)
        pack = register.outbox.first_decided(Kind.PACK, f"m{meeting.id}")
        if draft and pack and draft.uploaded_at > pack and not changed_since_pack:
            raise ChangedSincePack(policy_id, draft.uploaded_at, pack)
        new = NewText(Path(draft.file_name or f"draft {draft.number}"),
                      draft.body) if draft else None
        outcome = record_review(register, policies_dir, policy_id, meeting.day, next_due, new,
                                notes, now, confirmed=True,
                                approval=Approving(meeting, minute, recorded_by))
        if draft is not None:
            register.drafts.close(policy_id, "approved", now)
        approved = register.policies.version(policy_id, outcome.version)
    body = approved.body if approved else ""
    return Approved(outcome, meeting, draft, approved.sha256 if approved else "",
                    old_dates(body, meeting.day))
