"""Plain values the domain passes around. No I/O here."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time
from enum import StrEnum
from pathlib import Path

ROLES = ("staff", "volunteer", "governor", "clerk", "contractor", "office", "head")
# yearly: a confirmation counts for the school year it was given in; per-version: until the
# text changes
CONFIRM_MODES = ("yearly", "per-version")


def email_key(email: str) -> str:
    """People are the same person when their addresses match ignoring case."""
    return email.strip().lower()


def text_hash(body: str) -> str:
    """The hash that identifies a version's text: line endings and trailing space do not count."""
    import hashlib

    normal = "\n".join(line.rstrip() for line in body.replace("\r\n", "\n").split("\n")).strip()
    return hashlib.sha256(normal.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class PolicySource:
    """A validated ``data/policies/<id>.md``: front matter fields and the Markdown body."""

    path: Path
    id: str
    title: str
    school: str
    approver: str
    adopted: date
    review_due: date
    review_interval_months: int
    audiences: tuple[str, ...]
    reminder_audience: tuple[str, ...]
    related: tuple[str, ...]
    body: str
    statutory: str = ""              # the catalogue entry this policy meets, if any
    publish: bool = True             # on the school website's policy section
    confirm: str = "per-version"
    summary: str = ""                # what it covers, in one line

    @property
    def sha256(self) -> str:
        return text_hash(self.body)


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    roles: tuple[str, ...]
    start_date: date | None = None
    end_date: date | None = None

    def active_on(self, day: date) -> bool:
        """Leavers receive nothing after their end date; starters nothing before their start."""
        if self.start_date and day < self.start_date:
            return False
        return not (self.end_date and day > self.end_date)


@dataclass(frozen=True)
class PolicyRecord:
    """A policy as the register holds it now: its current version and open review cycle."""

    id: str
    title: str
    school: str
    approver: str
    review_interval_months: int
    audiences: tuple[str, ...]
    reminder_audience: tuple[str, ...]
    related: tuple[str, ...]
    source: str
    version: int
    adopted: date
    sha256: str
    cycle: int
    cycle_opened: date
    review_due: date
    first_adopted: date
    statutory: str = ""
    publish: bool = True
    confirm: str = "per-version"
    summary: str = ""

    @property
    def yearly(self) -> bool:
        """Whether a confirmation counts only for the school year it was given in."""
        return self.confirm == "yearly"


class State(StrEnum):
    """Where a policy stands against its review due date."""

    OK = "ok"
    DUE_SOON = "due-soon"
    DUE = "due"
    OVERDUE = "overdue"


class Kind(StrEnum):
    """Why a message is sent."""

    REVIEW = "review"        # a stage of a review cycle, to the approving body
    PACK = "pack"            # once per meeting, to its body, the clerk and the office
    REMINDER = "reminder"    # once per school year, to the reminder audience
    UPDATED = "updated"      # once per new version, to the audience
    DIGEST = "digest"        # once per week, to the office and the head
    CHASE = "chase"          # after a reminder or update notice, to whoever has not confirmed


class Action(StrEnum):
    SEND = "send"
    SKIP = "skip"            # a stale stage, recorded so that it is never sent


class Status(StrEnum):
    """A message's place in the outbox."""

    PENDING = "pending"      # to send
    SENDING = "sending"      # in flight; after a crash sent again with the same Message-ID
    SENT = "sent"
    FAILED = "failed"        # permanent, or temporary for too long
    SKIPPED = "skipped"      # a stale stage


@dataclass(frozen=True)
class Version:
    number: int
    sha256: str
    adopted: date
    recorded_at: datetime
    body: str = field(repr=False)


@dataclass(frozen=True)
class Cycle:
    number: int
    opened: date
    due: date
    closed: date | None


@dataclass(frozen=True)
class Review:
    reviewed_on: date
    next_due: date
    version: int
    text_changed: bool
    notes: str
    approval: Approval | None = None


@dataclass(frozen=True)
class Approval:
    """What binds a review to a meeting: the body, the meeting, the minute and the exact
    text approved (its SHA-256), and who recorded it."""

    body: str
    meeting: date
    meeting_name: str
    minute: str
    sha256: str
    recorded_by: str


@dataclass(frozen=True)
class Meeting:
    """A meeting of an approving body. Cancelled meetings stay in the register (and in the
    calendar feed, as cancelled); ``sequence`` rises whenever the meeting changes."""

    id: int
    body: str
    day: date
    time: time | None
    name: str
    cancelled: bool = False
    sequence: int = 0

    @property
    def label(self) -> str:
        return f"{self.name} on {self.day.isoformat()}"


@dataclass(frozen=True)
class Draft:
    """A proposed text for a policy, not yet adopted: never published, never sent to staff,
    never a version. One is open per policy; the others are kept as history."""

    id: int
    policy_id: str
    number: int
    sha256: str
    note: str
    file_name: str
    uploaded_at: datetime
    status: str                      # open, replaced, discarded or approved
    body: str = field(repr=False)


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    action: str
    subject: str
    detail: str


@dataclass(frozen=True)
class Confirmation:
    """Evidence that a person read a version: its text's hash, when, and from where."""

    person_key: str
    policy_id: str
    version: int
    sha256: str
    period: str
    confirmed_at: datetime
    address: str
    school_year: str = ""            # the school year it was given in: "2026-27"


@dataclass(frozen=True)
class Evidence:
    """A confirmation with the person's directory entry, for the export (name and email are
    empty when the person is no longer in the directory)."""

    name: str
    email: str
    roles: tuple[str, ...]
    confirmation: Confirmation


@dataclass(frozen=True)
class VersionFacts:
    """What the register says about one version, for its renders and pages: built from the
    register by the store, so the renderers need no database and no clock."""

    policy_id: str
    title: str
    school: str
    approver: str
    version: int
    adopted: date
    review_due: date
    overdue: bool
    sha256: str
    body: str = field(repr=False)
    audiences: tuple[str, ...] = ()
    superseded_by: int | None = None
    draft: bool = False
    meeting: date | None = None     # a draft: the meeting that is to decide it, if any

    @property
    def standing(self) -> str:
        """What the text is, in a phrase for its first page and footers: a draft is not
        adopted, and says for which meeting it is proposed."""
        if not self.draft:
            return f"Version {self.version} · Adopted {_long(self.adopted)}"
        if self.meeting:
            return f"Draft for the meeting of {_long(self.meeting)}"
        return "Draft, not yet on a meeting's agenda"

    def as_key(self) -> dict[str, str]:
        """Everything but the body, as text: what a render's cache key depends on."""
        return {k: str(v) for k, v in asdict(self).items() if k != "body"}


def new_ref() -> str:
    """A person's opaque reference for their links: random, no personal data. (secrets is
    imported here, not at the top: `status` starts without it.)"""
    import secrets

    return secrets.token_urlsafe(12)


def _long(day: date) -> str:
    return f"{day.day} {day:%B %Y}"
