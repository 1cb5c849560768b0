"""The policies' aggregate in the register: each policy, its versions (the texts adopted),
its review cycles and the reviews that closed them."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from lifecycle.register.rows import (
    _POLICY_QUERY,
    Part,
    _day,
    _policy,
    _policy_fields,
)
from lifecycle.rules.agenda import meeting_for
from lifecycle.values.dates import add_months
from lifecycle.values.errors import InputError, InstanceError, Remedy, UnknownPolicy
from lifecycle.values.model import (
    Approval,
    Cycle,
    Meeting,
    PolicyRecord,
    PolicySource,
    Review,
    Version,
    VersionFacts,
)

_REVIEWS = ("SELECT r.*, m.day AS meeting_day, m.name AS meeting_name"
            " FROM reviews r LEFT JOIN meetings m ON m.id = r.meeting_id")


def _review(r: sqlite3.Row) -> Review:
    return Review(date.fromisoformat(r["reviewed_on"]), date.fromisoformat(r["next_due"]),
                  r["version_number"], bool(r["text_changed"]), r["notes"] or "",
                  Approval(r["body"], date.fromisoformat(r["meeting_day"]), r["meeting_name"],
                           r["minute"] or "", r["sha256"] or "", r["recorded_by"] or "")
                  if r["meeting_id"] else None)


class Policies(Part):
    """Policies, versions, review cycles and reviews, and what a render says of a version
    or a draft (``documents.publish.Facts``)."""

    def all(self) -> list[PolicyRecord]:
        return [_policy(r) for r in self._all(_POLICY_QUERY + " ORDER BY p.id")]

    def get(self, policy_id: str) -> PolicyRecord | None:
        row = self._one(_POLICY_QUERY + " WHERE p.id = ?", [policy_id])
        return _policy(row) if row else None

    def ids(self) -> list[str]:
        return [r["id"] for r in self._all("SELECT id FROM policies ORDER BY id")]

    def add(self, source: PolicySource, now: datetime) -> None:
        """A new policy: its fields, version 1 and its first review cycle."""
        stamp = now.isoformat()
        with self.transaction():
            self._insert("policies", {"id": source.id, **_policy_fields(source),
                                      "created_at": stamp, "updated_at": stamp})
            self.audit(now, "policy.added", source.id, title=source.title,
                       source=source.path.name)
            self.add_version(source.id, source.sha256, source.adopted, source.body, now)
            self.open_cycle(source.id, source.adopted, source.review_due, now)

    def update(self, source: PolicySource, now: datetime) -> list[str]:
        """Bring the policy's fields in line with its source; returns the names that changed."""
        with self.transaction():
            current = self._one("SELECT * FROM policies WHERE id = ?", [source.id])
            if current is None:
                raise InstanceError(f"{source.id}: not in the register")
            new = _policy_fields(source)
            changed = [k for k, v in new.items() if current[k] != v]
            if changed:
                self._update("policies", "id", source.id, {**new, "updated_at": now.isoformat()})
                self.audit(now, "policy.updated", source.id,
                           changes={k: [current[k], new[k]] for k in changed})
        return changed

    def versions(self, policy_id: str) -> list[Version]:
        return [Version(r["number"], r["sha256"], date.fromisoformat(r["adopted"]),
                        datetime.fromisoformat(r["recorded_at"]), r["body"])
                for r in self._all("SELECT * FROM versions WHERE policy_id = ? ORDER BY number",
                                   [policy_id])]

    def version(self, policy_id: str, number: int) -> Version | None:
        row = self._one("SELECT * FROM versions WHERE policy_id = ? AND number = ?",
                        [policy_id, number])
        return None if row is None else Version(
            row["number"], row["sha256"], date.fromisoformat(row["adopted"]),
            datetime.fromisoformat(row["recorded_at"]), row["body"])

    def _next_number(self, table: str, policy_id: str) -> int:
        row = self._one(f"SELECT coalesce(max(number), 0) + 1 FROM {table} WHERE policy_id = ?",
                        [policy_id])
        return int(row[0]) if row else 1

    def add_version(self, policy_id: str, sha256: str, adopted: date, body: str,
                    now: datetime) -> int:
        with self.transaction():
            number = self._next_number("versions", policy_id)
            self._insert("versions", {
                "policy_id": policy_id, "number": number, "sha256": sha256,
                "adopted": adopted.isoformat(), "body": body, "recorded_at": now.isoformat()})
            self.audit(now, "version.adopted", policy_id, version=number, adopted=adopted,
                       sha256=sha256)
        return number

    def current_version(self, policy_id: str) -> int:
        policy = self.get(policy_id)
        if policy is None:
            raise UnknownPolicy(policy_id, self.ids())
        return policy.version

    def version_facts(self, policy_id: str, number: int, today: date) -> VersionFacts:
        """What a render says about version ``number``: the current one carries the live
        review date and whether it is overdue; an older one the review date it had then and
        the version that replaced it."""
        policy = self.get(policy_id)
        if policy is None:
            raise UnknownPolicy(policy_id, self.ids())
        version = self.version(policy_id, number)
        if version is None:
            known = ", ".join(str(v.number) for v in self.versions(policy_id))
            raise InputError(f"{policy_id} has no version {number} (versions: {known})",
                             field="version")
        current = number == policy.version
        due = policy.review_due if current else max(
            (c.due for c in self.cycles(policy_id) if c.opened <= version.adopted),
            default=policy.review_due)
        return VersionFacts(
            policy_id=policy.id, title=policy.title, school=policy.school,
            approver=policy.approver, version=number, adopted=version.adopted, review_due=due,
            overdue=current and due < today, sha256=version.sha256, body=version.body,
            audiences=policy.audiences, superseded_by=None if current else policy.version)

    def draft_facts(self, policy_id: str, today: date) -> VersionFacts:
        """The open draft as a render sees it: the next version's number, marked draft."""
        draft = self.register.drafts.open(policy_id)
        if draft is None:
            raise InputError(f"{policy_id} has no open draft", field="draft",
                             remedy=Remedy.ADD_DRAFT)
        policy = self.get(policy_id)
        if policy is None:
            raise UnknownPolicy(policy_id, self.ids())
        current = self.version_facts(policy_id, policy.version, today)
        meeting = meeting_for(policy, self.register.meetings.all(include_cancelled=False),
                              {policy_id}, today)
        decided = meeting.day if meeting else today
        return replace(current, version=current.version + 1, adopted=draft.uploaded_at.date(),
                       review_due=add_months(decided, policy.review_interval_months),
                       overdue=False, sha256=draft.sha256, body=draft.body, draft=True,
                       meeting=meeting.day if meeting else None)

    def cycles(self, policy_id: str) -> list[Cycle]:
        return [Cycle(r["number"], date.fromisoformat(r["opened"]), date.fromisoformat(r["due"]),
                      _day(r["closed"]))
                for r in self._all("SELECT * FROM review_cycles WHERE policy_id = ?"
                                   " ORDER BY number", [policy_id])]

    def open_cycle(self, policy_id: str, opened: date, due: date, now: datetime) -> None:
        with self.transaction():
            number = self._next_number("review_cycles", policy_id)
            self._insert("review_cycles", {"policy_id": policy_id, "number": number,
                                           "opened": opened.isoformat(), "due": due.isoformat()})
            self.audit(now, "review_cycle.opened", policy_id, cycle=number, opened=opened,
                       due=due)

    def set_cycle_due(self, policy_id: str, cycle: int, due: date, now: datetime) -> None:
        with self.transaction():
            self._db.execute("UPDATE review_cycles SET due = ? WHERE policy_id = ? AND number = ?",
                             [due.isoformat(), policy_id, cycle])
            self.audit(now, "review_cycle.due_changed", policy_id, cycle=cycle, due=due)

    def due_changes(self, policy_id: str, cycle: int) -> int:
        """How many times a cycle's due date was moved: a calendar entry's SEQUENCE."""
        row = self._one("SELECT count(*) FROM audit WHERE subject = ? AND action ="
                        " 'review_cycle.due_changed' AND json_extract(detail, '$.cycle') = ?",
                        [policy_id, cycle])
        return int(row[0]) if row else 0

    def reviews(self, policy_id: str) -> list[Review]:
        return [_review(r) for r in self._all(_REVIEWS + " WHERE r.policy_id = ? ORDER BY r.id",
                                              [policy_id])]

    def approved_at(self, meeting_id: int) -> list[tuple[str, Review]]:
        """(policy, review) of every approval recorded at a meeting, in the order recorded:
        what the meeting decided."""
        return [(r["policy_id"], _review(r)) for r in self._all(
            _REVIEWS + " WHERE r.meeting_id = ? ORDER BY r.id", [meeting_id])]

    def add_review(self, policy: PolicyRecord, reviewed_on: date, next_due: date,
                   version: int, notes: str, now: datetime,
                   approval: tuple[Meeting, str, str, str] | None = None) -> None:
        """Close the open review cycle with this review and open the next one. An approval
        at a meeting gives (meeting, minute, SHA-256 of the text approved, recorded by)."""
        bound: dict[str, Any] = {}
        if approval is not None:
            meeting, minute, sha256, recorded_by = approval
            bound = {"body": meeting.body, "meeting_id": meeting.id, "minute": minute,
                     "sha256": sha256, "recorded_by": recorded_by}
        with self.transaction():
            row = self._one("SELECT id FROM review_cycles WHERE policy_id = ? AND number = ?",
                            [policy.id, policy.cycle])
            if row is None:
                raise InstanceError(f"{policy.id}: review cycle {policy.cycle} is missing")
            self._db.execute("UPDATE review_cycles SET closed = ? WHERE id = ?",
                             [reviewed_on.isoformat(), row["id"]])
            self._insert("reviews", {
                "policy_id": policy.id, "cycle_id": row["id"],
                "reviewed_on": reviewed_on.isoformat(), "next_due": next_due.isoformat(),
                "version_number": version, "text_changed": int(version != policy.version),
                "notes": notes, "recorded_at": now.isoformat(), **bound})
            self.audit(now, "review.recorded", policy.id, cycle=policy.cycle,
                       reviewed_on=reviewed_on, next_due=next_due, version=version, notes=notes,
                       **{k: v for k, v in bound.items() if k != "meeting_id"},
                       **({"meeting": approval[0].day} if approval else {}))
            self.open_cycle(policy.id, reviewed_on, next_due, now)
