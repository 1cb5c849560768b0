"""What happens to policies: importing their sources, recording reviews, their state today."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path

from lifecycle.register.files import write_atomically
from lifecycle.register.store import Register
from lifecycle.values.dates import add_months
from lifecycle.values.errors import InputError, NeedsConfirmation, Remedy, UnknownPolicy
from lifecycle.values.model import Meeting, PolicyRecord, PolicySource, text_hash
from lifecycle.values.sources import (
    line_of_field,
    parse_source,
    read_text,
    rewrite_dates,
    split_front_matter,
)
from lifecycle.values.terms import Term


class Outcome(StrEnum):
    """What importing a policy's source did to the register."""

    NEW = "new"
    NEW_VERSION = "new version"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class SyncResult:
    policy_id: str
    outcome: Outcome
    version: int


def sync_source(register: Register, source: PolicySource, now: datetime) -> SyncResult:
    """Bring one policy in the register in line with its source file. Call inside the
    transaction of the whole import."""
    current = register.policies.get(source.id)
    if current is None:
        register.policies.add(source, now)
        return SyncResult(source.id, Outcome.NEW, 1)
    outcome = Outcome.UPDATED if register.policies.update(source, now) else Outcome.UNCHANGED
    version = current.version
    if source.sha256 != current.sha256:
        if source.adopted <= current.adopted:
            raise InputError(
                f"the text changed, so adopted must be after version {current.version}'s "
                f"{current.adopted}", file=source.path,
                line=line_of_field(source.path, "adopted"), field="adopted",
                remedy=Remedy.NEW_TEXT, policy_id=source.id)
        version = register.policies.add_version(source.id, source.sha256, source.adopted,
                                                source.body, now)
        outcome = Outcome.NEW_VERSION
    if source.review_due != current.review_due:
        if source.review_due <= current.cycle_opened:
            raise InputError(f"{source.review_due} is not after the review cycle opened "
                             f"({current.cycle_opened})", file=source.path,
                             line=line_of_field(source.path, "review_due"), field="review_due")
        register.policies.set_cycle_due(source.id, current.cycle, source.review_due, now)
        outcome = Outcome.UPDATED if outcome == Outcome.UNCHANGED else outcome
    return SyncResult(source.id, outcome, version)


def check_approver(source: PolicySource, bodies: Iterable[str], in_file: bool = True) -> None:
    """A policy's approver must be one of the configured approving bodies: otherwise nobody
    is ever prompted to review it. A near miss (another case) is named: in its file, or (not
    ``in_file``) as a fact the office gave."""
    check_body(source.approver, bodies, "approver", source.path if in_file else None,
               line_of_field(source.path, "approver") if in_file else None)


def check_statutory(source: PolicySource, in_file: bool = True) -> None:
    """A policy's ``statutory:`` line (or the entry the office chose) must name a catalogue
    entry."""
    if not source.statutory:
        return
    from lifecycle.values.catalogue import entry, load_catalogue

    try:
        entry(source.statutory, load_catalogue())
    except InputError as e:
        raise InputError(e.message, file=source.path if in_file else None,
                         line=line_of_field(source.path, "statutory") if in_file else None,
                         field="statutory") from None


def check_body(name: str, bodies: Iterable[str], field: str, file: Path | None = None,
               line: int | None = None) -> None:
    """``name`` must be a configured approving body; a near miss (another case) is named."""
    known = list(bodies)
    if name in known:
        return
    near = [b for b in known if b.casefold() == name.casefold()]
    hint = f"; did you mean '{near[0]}'?" if near else ""
    raise InputError(f"'{name}' is not an approving body in config.toml [approvers] "
                     f"(known: {', '.join(known) or 'none'}){hint}", file=file, line=line,
                     field=field)


def require_policy(register: Register, policy_id: str) -> PolicyRecord:
    policy = register.policies.get(policy_id)
    if policy is None:
        raise UnknownPolicy(policy_id, register.policies.ids())
    return policy


@dataclass(frozen=True)
class NewText:
    """A text the office gave (Markdown, with or without front matter), already read from
    ``path`` by the caller: Word documents are converted before they reach the register."""

    path: Path
    text: str
    terms: tuple[Term, ...] = ()     # the school's half terms, for a due date given as one
    name: str = ""                   # the file's own name, when ``path`` is a copy of ours

    @property
    def file_name(self) -> str:
        """The file's name as the office knows it."""
        return self.name or self.path.name


def new_text_body(policy: PolicyRecord, new: NewText) -> tuple[str | None, str]:
    """(front matter block or None, body) of a text given to ``review record --file``."""
    text, path = new.text, new.path
    if not text.lstrip().startswith("---"):
        if not text.strip():
            raise InputError("the file is empty", file=path, line=1, field="body")
        return None, text.strip("\n") + "\n"
    source = parse_source(path, text, new.terms)
    if source.id != policy.id:
        raise InputError(f"is '{source.id}', but the review is of '{policy.id}'", file=path,
                         line=line_of_field(path, "id", text), field="id")
    front = text[: len(text) - len(split_front_matter(text, path)[1])]
    return front, source.body


_WORDS = re.compile(r"\w+")
_HEADING = re.compile(r"^(#{1,6}[ \t]+\S|\S.*\n(=+|-+)[ \t]*$)", re.M)


_TITLE = re.compile(r"\A\s*#[ \t]+(.+?)[ \t]*$", re.M)


def same_title_case(old: str, new: str) -> str:
    """The new text with the old title's capitals when the titles differ only in case: our
    Word documents show an all-capitals title in title case, and a text that comes back
    from one has not changed its title."""
    before, after = _TITLE.match(old), _TITLE.match(new)
    if before and after and before[1] != after[1] and before[1].casefold() == after[1].casefold():
        return new[:after.start(1)] + before[1] + new[after.end(1):]
    return new


def accident_reasons(old: str, new: str) -> list[str]:
    """Why a new text looks like a mistake rather than a review: an empty body, more than
    half the words gone, or no heading left where there were some. Empty when it looks
    like a text someone meant."""
    before, after = len(_WORDS.findall(old)), len(_WORDS.findall(new))
    if not after:
        return ["it has no words"]
    reasons = []
    if after * 2 < before:
        reasons.append(f"it keeps {after:,} words of {before:,}: more than half are gone")
    if _HEADING.search(old) and not _HEADING.search(new):
        reasons.append("it has no headings left")
    return reasons


@dataclass(frozen=True)
class ReviewOutcome:
    policy_id: str
    reviewed_on: date
    next_due: date
    version: int
    text_changed: bool


def record_review(
    register: Register, policies_dir: Path, policy_id: str, reviewed_on: date,
    next_due: date | None, new: NewText | None, notes: str, now: datetime,
    confirmed: bool = False, approval: Approving | None = None,
) -> ReviewOutcome:
    """Close the open review cycle, open the next, and adopt a new version if the text changed.

    The source file is rewritten to match (new body, adopted and review_due), so that the next
    import agrees with the register; it is written last, when everything else has succeeded.
    A new text that looks like an accident (``accident_reasons``) needs ``confirmed``. An
    approval at a meeting is stored with the SHA-256 of the text it approved.
    """
    with register.transaction():
        return _record_review(register, policies_dir, policy_id, reviewed_on, next_due,
                              new, notes, now, confirmed, approval)


@dataclass(frozen=True)
class Approving:
    """The meeting a review is approved at, its minute reference and who records it."""

    meeting: Meeting
    minute: str
    recorded_by: str


def _record_review(
    register: Register, policies_dir: Path, policy_id: str, reviewed_on: date,
    next_due: date | None, new: NewText | None, notes: str, now: datetime, confirmed: bool,
    approval: Approving | None,
) -> ReviewOutcome:
    policy = require_policy(register, policy_id)
    if reviewed_on < policy.cycle_opened:
        what = "adopted" if policy.cycle == 1 else "last reviewed"
        raise InputError(f"{reviewed_on} is before the policy was {what} ({policy.cycle_opened})",
                         field="reviewed")
    if reviewed_on > now.date():
        raise InputError(f"{reviewed_on} is in the future (today is {now.date()})",
                         field="reviewed")
    due = next_due or add_months(reviewed_on, policy.review_interval_months)
    if due <= reviewed_on:
        raise InputError(f"{due} is not after the review date {reviewed_on}", field="next_review")
    source_path = policies_dir / policy.source
    text = read_text(source_path)
    version = policy.version
    adopted = None
    if new is not None:
        front, body = new_text_body(policy, new)
        current = register.policies.version(policy.id, policy.version)
        old = current.body if current else ""
        body = same_title_case(old, body)
        if text_hash(body) != policy.sha256:
            reasons = accident_reasons(old, body)
            if reasons and not confirmed:
                raise NeedsConfirmation(new.path, reasons)
            version = register.policies.add_version(policy.id, text_hash(body), reviewed_on,
                                                    body, now)
            adopted = reviewed_on
        front = front or text[: len(text) - len(split_front_matter(text, source_path)[1])]
        text = front + ("\n" if not front.endswith("\n\n") else "") + body
    bound = None
    if approval is not None:
        approved = register.policies.version(policy.id, version)
        bound = (approval.meeting, approval.minute, approved.sha256 if approved else "",
                 approval.recorded_by)
    register.policies.add_review(policy, reviewed_on, due, version, notes, now, bound)
    write_atomically(source_path, rewrite_dates(text, adopted, due))
    return ReviewOutcome(policy.id, reviewed_on, due, version, version != policy.version)


def add_policy(register: Register, policies_dir: Path, fields: dict[str, object],
               new: NewText, now: datetime, bodies: Iterable[str]) -> PolicySource:
    """A new policy from a text and the office's facts about it: ``data/policies/<id>.md``
    written with its front matter, and version 1 registered, in one transaction (the file is
    written last). Mistakes in the facts are reported against their fields."""
    import yaml

    policy_id = str(fields["id"])
    path = policies_dir / f"{policy_id}.md"
    if register.policies.get(policy_id) is not None or path.exists():
        raise InputError(f"'{policy_id}' is already in the register: choose another id",
                         field="id", remedy=Remedy.NEW_TEXT, policy_id=policy_id)
    if not new.text.strip():
        raise InputError("the document is empty", file=new.path)
    front = yaml.safe_dump(fields, sort_keys=False, allow_unicode=True, width=1000)
    text = f"---\n{front}---\n\n{new.text.strip(chr(10))}\n"
    try:
        source = parse_source(path, text, new.terms)
    except InputError as e:
        raise InputError(e.message, field=e.field) from None
    check_approver(source, bodies, in_file=False)
    check_statutory(source, in_file=False)
    with register.transaction():
        sync_source(register, source, now)
        policies_dir.mkdir(parents=True, exist_ok=True)
        write_atomically(path, text)
    return source
