"""Meetings of the approving bodies, and drafts: the texts proposed to them."""

from __future__ import annotations

from datetime import date, datetime, time

from lifecycle.register.rows import (
    Part,
    _draft,
    _meeting,
)
from lifecycle.values.errors import InstanceError
from lifecycle.values.model import (
    Draft,
    Meeting,
)


class Meetings(Part):
    """The approving bodies' meetings."""

    def all(self, include_cancelled: bool = True) -> list[Meeting]:
        where = "" if include_cancelled else "WHERE cancelled = 0"
        return [_meeting(r) for r in self._all(f"SELECT * FROM meetings {where}"
                                               " ORDER BY day, time, body, id")]

    def on(self, body: str, day: date) -> Meeting | None:
        """The body's meeting on ``day`` that is not cancelled, if any."""
        row = self._one("SELECT * FROM meetings WHERE body = ? AND day = ? AND cancelled = 0",
                        [body, day.isoformat()])
        return _meeting(row) if row else None

    def get(self, meeting_id: int) -> Meeting | None:
        row = self._one("SELECT * FROM meetings WHERE id = ?", [meeting_id])
        return _meeting(row) if row else None

    def add(self, body: str, day: date, at: time | None, name: str,
                    now: datetime) -> Meeting:
        with self.transaction():
            self._insert("meetings", {
                "body": body, "day": day.isoformat(), "time": at.strftime("%H:%M") if at else None,
                "name": name, "cancelled": 0, "sequence": 0, "created_at": now.isoformat(),
                "updated_at": now.isoformat()})
            meeting = self.on(body, day)
            if meeting is None:
                raise InstanceError(f"the meeting of {day} was not stored")
            self.audit(now, "meeting.added", body, day=day, time=at, name=name)
        return meeting

    def cancel(self, meeting: Meeting, now: datetime) -> None:
        with self.transaction():
            self._db.execute("UPDATE meetings SET cancelled = 1, sequence = sequence + 1,"
                             " updated_at = ? WHERE id = ?", [now.isoformat(), meeting.id])
            self.audit(now, "meeting.cancelled", meeting.body, day=meeting.day,
                       name=meeting.name)


class Drafts(Part):
    """Proposed texts, one open per policy; a new upload replaces it."""

    def all(self, policy_id: str | None = None, open_only: bool = True) -> list[Draft]:
        clauses = [c for c, on in (("policy_id = ?", policy_id is not None),
                                   ("status = 'open'", open_only)) if on]
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        return [_draft(r) for r in self._all(f"SELECT * FROM drafts {where}"
                                             " ORDER BY policy_id, number",
                                             [policy_id] if policy_id is not None else [])]

    def open(self, policy_id: str) -> Draft | None:
        found = self.all(policy_id)
        return found[-1] if found else None

    def add(self, policy_id: str, body: str, sha256: str, note: str, file_name: str,
                  now: datetime) -> Draft:
        """The policy's open draft; an earlier open one is kept, marked replaced."""
        with self.transaction():
            self.close(policy_id, "replaced", now)
            number = self.register.policies._next_number("drafts", policy_id)
            self._insert("drafts", {
                "policy_id": policy_id, "number": number, "sha256": sha256, "body": body,
                "note": note, "file_name": file_name, "uploaded_at": now.isoformat(),
                "status": "open"})
            self.audit(now, "draft.added", policy_id, draft=number, sha256=sha256,
                       file=file_name, note=note)
            draft = self.open(policy_id)
        if draft is None:
            raise InstanceError(f"{policy_id}: the draft was not stored")
        return draft

    def close(self, policy_id: str, status: str, now: datetime) -> Draft | None:
        """Close the open draft as replaced, discarded or approved; the one closed, if any."""
        with self.transaction():
            draft = self.open(policy_id)
            if draft is not None:
                self._update("drafts", "id", draft.id, {"status": status,
                                                        "closed_at": now.isoformat()})
                self.audit(now, f"draft.{status}", policy_id, draft=draft.number,
                           sha256=draft.sha256)
        return draft
