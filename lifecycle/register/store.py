"""The register: every SQL statement about policies, versions, reviews, people, confirmations,
the office login and the audit log. The outbox's statements live in ``outbox.py``, on the
same connection.

One SQLite file shared by the service and the command line, so: WAL, a busy timeout, write
transactions that take the write lock up front, and migrations applied whenever it is opened
behind the current schema. Every write takes ``now``; nothing here reads the clock.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime, time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from lifecycle.values.errors import InputError, InstanceError, RegisterBusy, UnknownPolicy
from lifecycle.values.model import (
    Approval,
    AuditEntry,
    Confirmation,
    Cycle,
    Draft,
    Evidence,
    Meeting,
    Person,
    PolicyRecord,
    PolicySource,
    Review,
    Version,
    VersionFacts,
    new_ref,
)

if TYPE_CHECKING:
    from lifecycle.register.outbox import Outbox

SCHEMA_VERSION = 8          # the number of migrations in migrations.py (a test keeps it so)
BUSY_SECONDS = 30           # how long a writer waits for another to finish

_POLICY_QUERY = """
SELECT p.*, v.number AS version, v.adopted, v.sha256,
       (SELECT min(adopted) FROM versions WHERE policy_id = p.id) AS first_adopted,
       c.number AS cycle, c.opened AS cycle_opened, c.due AS review_due
FROM policies p
JOIN versions v ON v.policy_id = p.id
  AND v.number = (SELECT max(number) FROM versions WHERE policy_id = p.id)
JOIN review_cycles c ON c.policy_id = p.id
  AND c.number = (SELECT max(number) FROM review_cycles WHERE policy_id = p.id)
"""


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _policy(row: sqlite3.Row) -> PolicyRecord:
    return PolicyRecord(
        id=row["id"], title=row["title"], school=row["school"], approver=row["approver"],
        review_interval_months=row["review_interval_months"],
        audiences=tuple(json.loads(row["audiences"])),
        reminder_audience=tuple(json.loads(row["reminder_audience"])),
        related=tuple(json.loads(row["related"])), source=row["source"],
        version=row["version"], adopted=date.fromisoformat(row["adopted"]), sha256=row["sha256"],
        cycle=row["cycle"], cycle_opened=date.fromisoformat(row["cycle_opened"]),
        review_due=date.fromisoformat(row["review_due"]),
        first_adopted=date.fromisoformat(row["first_adopted"]),
        statutory=row["statutory"] or "", publish=bool(row["publish"]),
        confirm=row["confirm"] or "per-version", summary=row["summary"] or "",
    )


def _person(row: sqlite3.Row) -> Person:
    return Person(name=row["name"], email=row["email"], roles=tuple(json.loads(row["roles"])),
                  start_date=_day(row["start_date"]), end_date=_day(row["end_date"]))


def _meeting(row: sqlite3.Row) -> Meeting:
    return Meeting(id=row["id"], body=row["body"], day=date.fromisoformat(row["day"]),
                   time=time.fromisoformat(row["time"]) if row["time"] else None,
                   name=row["name"], cancelled=bool(row["cancelled"]),
                   sequence=row["sequence"])


def _draft(row: sqlite3.Row) -> Draft:
    return Draft(id=row["id"], policy_id=row["policy_id"], number=row["number"],
                 sha256=row["sha256"], note=row["note"] or "", file_name=row["file_name"] or "",
                 uploaded_at=datetime.fromisoformat(row["uploaded_at"]), status=row["status"],
                 body=row["body"])


def _confirmation(row: sqlite3.Row) -> Confirmation:
    return Confirmation(
        person_key=row["person_key"], policy_id=row["policy_id"], version=row["version"],
        sha256=row["sha256"], period=row["period"] or "",
        confirmed_at=datetime.fromisoformat(row["confirmed_at"]), address=row["address"] or "",
        school_year=row["school_year"] or "")


def _policy_fields(source: PolicySource) -> dict[str, Any]:
    return {
        "title": source.title, "school": source.school, "approver": source.approver,
        "review_interval_months": source.review_interval_months,
        "audiences": json.dumps(list(source.audiences)),
        "reminder_audience": json.dumps(list(source.reminder_audience)),
        "related": json.dumps(list(source.related)), "source": source.path.name,
        "statutory": source.statutory, "publish": int(source.publish), "confirm": source.confirm,
        "summary": source.summary,
    }


def _person_fields(person: Person) -> dict[str, Any]:
    return {
        "name": person.name, "email": person.email, "roles": json.dumps(list(person.roles)),
        "start_date": person.start_date.isoformat() if person.start_date else None,
        "end_date": person.end_date.isoformat() if person.end_date else None,
    }


class Register:
    """The register in one SQLite file: a context manager that closes its connection.

    Each method that changes data runs in a transaction of its own, or joins the one a caller
    opened with ``transaction()`` around a whole user action.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._db = sqlite3.connect(path, timeout=BUSY_SECONDS, isolation_level=None,
                                       check_same_thread=False)
            self._db.row_factory = sqlite3.Row
            self._depth = 0
            self._db.execute("PRAGMA foreign_keys = ON")
            if self._db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                self._db.execute("PRAGMA journal_mode = WAL")
            # In WAL mode NORMAL survives any crash of this process; only a power cut can lose
            # the last commits, and then a message is at worst sent again with the same ID.
            self._db.execute("PRAGMA synchronous = NORMAL")
            if self.schema_version != SCHEMA_VERSION:
                self._migrate()
        except sqlite3.DatabaseError as e:
            self.close()
            raise translate(e, path) from None
        self._outbox: Outbox | None = None

    @property
    def outbox(self) -> Outbox:
        """The outbox's statements, on this connection and in its transactions."""
        from lifecycle.register.outbox import Outbox

        if self._outbox is None:
            self._outbox = Outbox(self._db, self.transaction, self.audit)
        return self._outbox

    # -- the connection ----------------------------------------------------------------

    def close(self) -> None:
        if getattr(self, "_db", None) is not None:
            self._db.close()

    def __enter__(self) -> Register:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[Register]:
        """One user action, all or nothing. The outermost level takes the write lock at once
        (BEGIN IMMEDIATE), waiting up to BUSY_SECONDS for another writer: a read that later
        turns into a write can then never fail with "database is locked". Nested levels are
        savepoints."""
        savepoint = f"level{self._depth}"
        try:
            self._db.execute("BEGIN IMMEDIATE" if self._depth == 0 else f"SAVEPOINT {savepoint}")
        except sqlite3.OperationalError as e:
            raise translate(e, self.path) from None
        self._depth += 1
        try:
            yield self
        except BaseException:
            self._depth -= 1
            if self._depth == 0:
                self._db.execute("ROLLBACK")
            elif self._db.in_transaction:
                self._db.execute(f"ROLLBACK TO {savepoint}")
                self._db.execute(f"RELEASE {savepoint}")
            raise
        self._depth -= 1
        self._db.execute("COMMIT" if self._depth == 0 else f"RELEASE {savepoint}")

    @property
    def data_version(self) -> int:
        """Changes whenever another connection commits: what a cache of the register's
        pages is keyed on (SQLite's PRAGMA data_version, a read of one counter)."""
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    @property
    def schema_version(self) -> int:
        try:
            row = self._db.execute("SELECT count(*) FROM _sqlite_migrations"
                                   " WHERE migration_set = 'policy_lifecycle'").fetchone()
        except sqlite3.OperationalError:
            return 0          # a new file: no migrations table yet
        return int(row[0])

    def _migrate(self) -> None:
        """sqlite-utils' migrations, imported only when the schema is behind (most commands
        never pay for the import), under the write lock so two processes cannot race."""
        from sqlite_utils import Database

        from lifecycle.register.migrations import migrations

        with self.transaction():
            migrations.apply(Database(self._db))

    def _one(self, sql: str, params: Any = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._db.execute(sql, params).fetchone()
        return row

    def _all(self, sql: str, params: Any = ()) -> list[sqlite3.Row]:
        return self._db.execute(sql, params).fetchall()

    def _insert(self, table: str, values: dict[str, Any]) -> None:
        columns = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        self._db.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", list(values.values()))

    def _update(self, table: str, key: str, key_value: Any, values: dict[str, Any]) -> None:
        columns = ", ".join(f"{k} = ?" for k in values)
        self._db.execute(f"UPDATE {table} SET {columns} WHERE {key} = ?",
                         [*values.values(), key_value])

    # -- audit -----------------------------------------------------------------------------

    def audit(self, now: datetime, action: str, subject: str, **detail: Any) -> None:
        self._insert("audit", {"at": now.isoformat(), "action": action, "subject": subject,
                               "detail": json.dumps(detail, default=str, sort_keys=True)})

    def audit_log(self, subject: str | None = None) -> list[AuditEntry]:
        where, params = ("WHERE subject = ?", [subject]) if subject else ("", [])
        return [AuditEntry(datetime.fromisoformat(r["at"]), r["action"], r["subject"],
                           r["detail"])
                for r in self._all(f"SELECT * FROM audit {where} ORDER BY id", params)]

    # -- policies --------------------------------------------------------------------------

    def policies(self) -> list[PolicyRecord]:
        return [_policy(r) for r in self._all(_POLICY_QUERY + " ORDER BY p.id")]

    def policy(self, policy_id: str) -> PolicyRecord | None:
        row = self._one(_POLICY_QUERY + " WHERE p.id = ?", [policy_id])
        return _policy(row) if row else None

    def policy_ids(self) -> list[str]:
        return [r["id"] for r in self._all("SELECT id FROM policies ORDER BY id")]

    def add_policy(self, source: PolicySource, now: datetime) -> None:
        """A new policy: its fields, version 1 and its first review cycle."""
        stamp = now.isoformat()
        with self.transaction():
            self._insert("policies", {"id": source.id, **_policy_fields(source),
                                      "created_at": stamp, "updated_at": stamp})
            self.audit(now, "policy.added", source.id, title=source.title,
                       source=source.path.name)
            self.add_version(source.id, source.sha256, source.adopted, source.body, now)
            self.open_cycle(source.id, source.adopted, source.review_due, now)

    def update_policy(self, source: PolicySource, now: datetime) -> list[str]:
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
        policy = self.policy(policy_id)
        if policy is None:
            raise UnknownPolicy(policy_id, self.policy_ids())
        return policy.version

    def version_facts(self, policy_id: str, number: int, today: date) -> VersionFacts:
        """What a render says about version ``number``: the current one carries the live
        review date and whether it is overdue; an older one the review date it had then and
        the version that replaced it."""
        policy = self.policy(policy_id)
        if policy is None:
            raise UnknownPolicy(policy_id, self.policy_ids())
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
        rows = self._all("SELECT r.*, m.day AS meeting_day, m.name AS meeting_name"
                         " FROM reviews r LEFT JOIN meetings m ON m.id = r.meeting_id"
                         " WHERE r.policy_id = ? ORDER BY r.id", [policy_id])
        return [Review(date.fromisoformat(r["reviewed_on"]), date.fromisoformat(r["next_due"]),
                       r["version_number"], bool(r["text_changed"]), r["notes"] or "",
                       Approval(r["body"], date.fromisoformat(r["meeting_day"]),
                                r["meeting_name"], r["minute"] or "", r["sha256"] or "",
                                r["recorded_by"] or "") if r["meeting_id"] else None)
                for r in rows]

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

    # -- meetings ----------------------------------------------------------------------------

    def meetings(self, include_cancelled: bool = True) -> list[Meeting]:
        where = "" if include_cancelled else "WHERE cancelled = 0"
        return [_meeting(r) for r in self._all(f"SELECT * FROM meetings {where}"
                                               " ORDER BY day, time, body, id")]

    def meeting(self, body: str, day: date) -> Meeting | None:
        """The body's meeting on ``day`` that is not cancelled, if any."""
        row = self._one("SELECT * FROM meetings WHERE body = ? AND day = ? AND cancelled = 0",
                        [body, day.isoformat()])
        return _meeting(row) if row else None

    def meeting_by_id(self, meeting_id: int) -> Meeting | None:
        row = self._one("SELECT * FROM meetings WHERE id = ?", [meeting_id])
        return _meeting(row) if row else None

    def add_meeting(self, body: str, day: date, at: time | None, name: str,
                    now: datetime) -> Meeting:
        with self.transaction():
            self._insert("meetings", {
                "body": body, "day": day.isoformat(), "time": at.strftime("%H:%M") if at else None,
                "name": name, "cancelled": 0, "sequence": 0, "created_at": now.isoformat(),
                "updated_at": now.isoformat()})
            meeting = self.meeting(body, day)
            if meeting is None:
                raise InstanceError(f"the meeting of {day} was not stored")
            self.audit(now, "meeting.added", body, day=day, time=at, name=name)
        return meeting

    def cancel_meeting(self, meeting: Meeting, now: datetime) -> None:
        with self.transaction():
            self._db.execute("UPDATE meetings SET cancelled = 1, sequence = sequence + 1,"
                             " updated_at = ? WHERE id = ?", [now.isoformat(), meeting.id])
            self.audit(now, "meeting.cancelled", meeting.body, day=meeting.day,
                       name=meeting.name)

    # -- drafts ------------------------------------------------------------------------------

    def drafts(self, policy_id: str | None = None, open_only: bool = True) -> list[Draft]:
        clauses = [c for c, on in (("policy_id = ?", policy_id is not None),
                                   ("status = 'open'", open_only)) if on]
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        return [_draft(r) for r in self._all(f"SELECT * FROM drafts {where}"
                                             " ORDER BY policy_id, number",
                                             [policy_id] if policy_id is not None else [])]

    def open_draft(self, policy_id: str) -> Draft | None:
        found = self.drafts(policy_id)
        return found[-1] if found else None

    def add_draft(self, policy_id: str, body: str, sha256: str, note: str, file_name: str,
                  now: datetime) -> Draft:
        """The policy's open draft; an earlier open one is kept, marked replaced."""
        with self.transaction():
            self.close_draft(policy_id, "replaced", now)
            number = self._next_number("drafts", policy_id)
            self._insert("drafts", {
                "policy_id": policy_id, "number": number, "sha256": sha256, "body": body,
                "note": note, "file_name": file_name, "uploaded_at": now.isoformat(),
                "status": "open"})
            self.audit(now, "draft.added", policy_id, draft=number, sha256=sha256,
                       file=file_name, note=note)
            draft = self.open_draft(policy_id)
        if draft is None:
            raise InstanceError(f"{policy_id}: the draft was not stored")
        return draft

    def close_draft(self, policy_id: str, status: str, now: datetime) -> Draft | None:
        """Close the open draft as replaced, discarded or approved; the one closed, if any."""
        with self.transaction():
            draft = self.open_draft(policy_id)
            if draft is not None:
                self._update("drafts", "id", draft.id, {"status": status,
                                                        "closed_at": now.isoformat()})
                self.audit(now, f"draft.{status}", policy_id, draft=draft.number,
                           sha256=draft.sha256)
        return draft

    def draft_facts(self, policy_id: str, today: date) -> VersionFacts:
        """The open draft as a render sees it: the next version's number, marked draft."""
        draft = self.open_draft(policy_id)
        if draft is None:
            raise InputError(f"{policy_id} has no open draft (add one with 'draft add')",
                             field="draft")
        current = self.version_facts(policy_id, self.current_version(policy_id), today)
        return replace(current, version=current.version + 1, adopted=draft.uploaded_at.date(),
                       overdue=False, sha256=draft.sha256, body=draft.body, draft=True)

    # -- people ----------------------------------------------------------------------------

    def people(self) -> list[Person]:
        return [_person(r) for r in self._all("SELECT * FROM people ORDER BY name, email_key")]

    def person(self, key: str) -> Person | None:
        row = self._one("SELECT * FROM people WHERE email_key = ?", [key])
        return _person(row) if row else None

    def upsert_person(self, person: Person, key: str, now: datetime, by: str) -> str:
        """Add or update by email key; returns 'added', 'updated' or 'unchanged'. ``by``: who
        made the change, for the audit log."""
        values = _person_fields(person)
        with self.transaction():
            row = self._one("SELECT * FROM people WHERE email_key = ?", [key])
            if row is None:
                stamp = now.isoformat()
                self._insert("people", {**values, "email_key": key, "created_at": stamp,
                                        "updated_at": stamp, "ref": new_ref()})
                self.audit(now, "person.added", key, **values, by=by)
                return "added"
            changes = {k: [row[k], v] for k, v in values.items() if row[k] != v}
            if not changes:
                return "unchanged"
            self._update("people", "id", row["id"], {**values, "updated_at": now.isoformat()})
            self.audit(now, "person.updated", key, changes=changes, by=by)
            return "updated"

    def person_key_of(self, ref: str) -> str | None:
        """The person an opaque reference (from a link) stands for."""
        row = self._one("SELECT email_key FROM people WHERE ref = ?", [ref])
        return str(row[0]) if row else None

    def person_refs(self) -> dict[str, str]:
        """Each person's opaque reference, by key: what their links carry."""
        return dict(self._db.execute("SELECT email_key, ref FROM people").fetchall())

    def rekey_person(self, old: str, new: str, now: datetime, by: str) -> None:
        """A person's address changed: their confirmations, openings and messages follow
        (a message's key ends with the person's)."""
        with self.transaction():
            self._rekey(old, new)
            self.audit(now, "person.address_changed", new, before=old, by=by)

    def _rekey(self, old: str, new: str) -> None:
        self._db.execute("UPDATE people SET email_key = ? WHERE email_key = ?", [new, old])
        for table in ("confirmations", "openings"):
            self._db.execute(f"UPDATE {table} SET person_key = ? WHERE person_key = ?",
                             [new, old])
        self._db.execute("UPDATE messages SET person_key = ?, key = substr(key, 1, length(key)"
                         " - length(?)) || ? WHERE person_key = ?", [new, old, new, old])

    def pseudonymise(self, key: str, pseudonym: Person, pattern: re.Pattern[str],
                     now: datetime, by: str) -> dict[str, int]:
        """Replace a person everywhere with ``pseudonym`` (its address is their new key):
        the directory entry, their messages, confirmations and openings, and every match of
        ``pattern`` (their names and addresses) in the audit log, which is otherwise
        append-only. Dates and counts stay; their links stop working (a new reference)."""
        new = pseudonym.email
        with self.transaction():
            self._rekey(key, new)
            self._update("people", "email_key", new, {
                **_person_fields(pseudonym), "ref": new_ref(),
                "updated_at": now.isoformat()})
            counts = {"messages": self._scrub_messages(new, pseudonym, pattern),
                      "confirmations": self._db.execute(
                          "UPDATE confirmations SET address = NULL WHERE person_key = ?",
                          [new]).rowcount,
                      "audit entries": self._scrub_audit(key, new, pattern)}
            self.audit(now, "person.erased", new, by=by, **counts)
        return counts

    def _scrub_messages(self, key: str, pseudonym: Person, pattern: re.Pattern[str]) -> int:
        self._db.execute("UPDATE messages SET to_name = ?, to_email = ? WHERE person_key = ?",
                         [pseudonym.name, pseudonym.email, key])
        for row in self._all("SELECT id, last_error, subject FROM messages"
                             " WHERE last_error IS NOT NULL OR subject IS NOT NULL"):
            scrubbed = [pattern.sub(pseudonym.name, row[c] or "") or None
                        for c in ("last_error", "subject")]
            if scrubbed != [row["last_error"], row["subject"]]:
                self._db.execute("UPDATE messages SET last_error = ?, subject = ? WHERE id = ?",
                                 [*scrubbed, row["id"]])
        return int(self._db.execute("SELECT count(*) FROM messages WHERE person_key = ?",
                                    [key]).fetchone()[0])

    def _scrub_audit(self, old: str, new: str, pattern: re.Pattern[str]) -> int:
        """The one change ever made to the audit log, with its guard lifted inside this
        transaction only (SQLite's schema changes are transactional)."""
        self._db.execute("DROP TRIGGER audit_no_update")
        changed = 0
        for row in self._all("SELECT id, subject, detail FROM audit"):
            subject = new if row["subject"] == old else pattern.sub(new, row["subject"])
            detail = pattern.sub("(erased)", row["detail"])
            if (subject, detail) != (row["subject"], row["detail"]):
                self._db.execute("UPDATE audit SET subject = ?, detail = ? WHERE id = ?",
                                 [subject, detail, row["id"]])
                changed += 1
        self._db.execute("CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit "
                         "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END")
        return changed

    def compact(self) -> None:
        """Rewrite the file so that nothing erased survives in free pages or the journal."""
        self._db.execute("VACUUM")
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def confirmations_of(self, person_key: str) -> list[Confirmation]:
        return [_confirmation(r) for r in self._all(
            "SELECT * FROM confirmations WHERE person_key = ? ORDER BY confirmed_at, id",
            [person_key])]

    # -- read and confirm ------------------------------------------------------------------

    def add_confirmation(self, confirmation: Confirmation, now: datetime,
                         yearly: bool = False) -> bool:
        """Record the evidence once per person and version (``yearly``: once per person,
        version and school year); True if it is new."""
        c = confirmation
        with self.transaction():
            if self.confirmation(c.person_key, c.policy_id, c.version,
                                 c.school_year if yearly else None) is not None:
                return False
            self._insert("confirmations", {
                "person_key": c.person_key, "policy_id": c.policy_id, "version": c.version,
                "sha256": c.sha256, "period": c.period, "confirmed_at": c.confirmed_at.isoformat(),
                "address": c.address, "school_year": c.school_year})
            self.audit(now, "confirmation.recorded", c.policy_id, person=c.person_key,
                       version=c.version, sha256=c.sha256, address=c.address,
                       school_year=c.school_year)
        return True

    def confirmation(self, person_key: str, policy_id: str, version: int,
                     school_year: str | None = None) -> Confirmation | None:
        """The person's confirmation of a version (in ``school_year``, if given)."""
        found = self.confirmations(policy_id, version, school_year, person_key)
        return found.get(person_key)

    def confirmations(self, policy_id: str, version: int, school_year: str | None = None,
                      person_key: str | None = None) -> dict[str, Confirmation]:
        """Who confirmed this version (in ``school_year``, if given), keyed by person: the
        earliest confirmation of each."""
        sql = "SELECT * FROM confirmations WHERE policy_id = ? AND version = ?"
        params: list[Any] = [policy_id, version]
        if school_year is not None:
            sql, params = sql + " AND school_year = ?", [*params, school_year]
        if person_key is not None:
            sql, params = sql + " AND person_key = ?", [*params, person_key]
        found: dict[str, Confirmation] = {}
        for row in self._all(sql + " ORDER BY confirmed_at DESC, id DESC", params):
            found[row["person_key"]] = _confirmation(row)
        return found

    def add_opening(self, person_key: str, policy_id: str, version: int, school_year: str,
                    now: datetime) -> None:
        """That a person opened a policy from their annual reminder's page (once is kept)."""
        with self.transaction():
            self._db.execute(
                "INSERT OR IGNORE INTO openings (person_key, policy_id, version, school_year,"
                " opened_at) VALUES (?, ?, ?, ?, ?)",
                [person_key, policy_id, version, school_year, now.isoformat()])

    def openings(self, person_key: str, school_year: str) -> set[tuple[str, int]]:
        """(policy, version) a person has opened from their page this school year."""
        rows = self._all("SELECT policy_id, version FROM openings WHERE person_key = ?"
                         " AND school_year = ?", [person_key, school_year])
        return {(r[0], r[1]) for r in rows}

    def confirmed_by(self, person_key: str) -> dict[tuple[str, int], set[str]]:
        """(policy, version) -> the school years in which this person confirmed it."""
        return self.confirmed_by_everyone(person_key).get(person_key, {})

    def confirmed_by_everyone(self, person_key: str | None = None
                              ) -> dict[str, dict[tuple[str, int], set[str]]]:
        """person -> (policy, version) -> the school years in which they confirmed it (one
        person's, if named)."""
        where, params = ("WHERE person_key = ?", [person_key]) if person_key else ("", [])
        found: dict[str, dict[tuple[str, int], set[str]]] = {}
        for person, policy_id, version, year in self._db.execute(
                f"SELECT person_key, policy_id, version, school_year FROM confirmations {where}",
                params):
            found.setdefault(person, {}).setdefault((policy_id, version), set()).add(year or "")
        return found

    def confirmed_years(self) -> dict[str, dict[str, set[str]]]:
        """policy -> school year -> who confirmed its current version in that year."""
        found: dict[str, dict[str, set[str]]] = {}
        for policy_id, year, person in self._db.execute(
                "SELECT c.policy_id, c.school_year, c.person_key FROM confirmations c"
                " WHERE c.version = (SELECT max(number) FROM versions v"
                "                    WHERE v.policy_id = c.policy_id)"):
            found.setdefault(policy_id, {}).setdefault(year or "", set()).add(person)
        return found

    def evidence(self) -> list[Evidence]:
        """Every confirmation with the person's directory entry, oldest first."""
        rows = self._all("SELECT c.*, p.name, p.email, p.roles FROM confirmations c"
                         " LEFT JOIN people p ON p.email_key = c.person_key"
                         " ORDER BY c.confirmed_at, c.id")
        return [Evidence(r["name"] or "", r["email"] or "",
                         tuple(json.loads(r["roles"])) if r["roles"] else (), _confirmation(r))
                for r in rows]

    # -- the office's login ----------------------------------------------------------------

    def set_password_hash(self, password_hash: str, now: datetime) -> None:
        with self.transaction():
            self._db.execute("DELETE FROM admin")
            self._insert("admin", {"id": 1, "password_hash": password_hash,
                                   "updated_at": now.isoformat()})
            self.audit(now, "admin.password_set", "admin")

    def password_hash(self) -> str | None:
        row = self._one("SELECT password_hash FROM admin WHERE id = 1")
        return str(row[0]) if row else None


def translate(error: sqlite3.DatabaseError, path: Path) -> Exception:
    """SQLite's errors as the office would want to read them."""
    text = str(error)
    if isinstance(error, sqlite3.OperationalError) and "locked" in text:
        return RegisterBusy(f"{path}: the register is busy (another command or the service "
                            f"held it for {BUSY_SECONDS} s); nothing was changed: try again")
    return InstanceError(f"{path}: not a readable register ({text}): restore it from a backup "
                         "or move it aside and run init")
