"""The register: every SQL statement about policies, versions, reviews, people and the audit log.

One SQLite file shared by the service and the command line, so: WAL, a busy timeout, and
migrations applied whenever it is opened. Every write takes ``now``; nothing here reads the clock.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from .migrations import migrations
from .model import Person, PolicyRecord, PolicySource

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


def _policy(row: dict[str, Any]) -> PolicyRecord:
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
    )


def _person(row: dict[str, Any]) -> Person:
    return Person(name=row["name"], email=row["email"], roles=tuple(json.loads(row["roles"])),
                  start_date=_day(row["start_date"]), end_date=_day(row["end_date"]))


def _policy_fields(source: PolicySource) -> dict[str, Any]:
    return {
        "title": source.title, "school": source.school, "approver": source.approver,
        "review_interval_months": source.review_interval_months,
        "audiences": json.dumps(list(source.audiences)),
        "reminder_audience": json.dumps(list(source.reminder_audience)),
        "related": json.dumps(list(source.related)), "source": source.path.name,
    }


class Register:
    """The register in one SQLite file. Use ``atomic()`` around each user action."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = Database(sqlite3.connect(path, timeout=30))
        self.db.execute("PRAGMA foreign_keys = ON")
        if self.db.journal_mode != "wal":
            self.db.enable_wal()
        # In WAL mode NORMAL survives any crash of this process; only a power cut can lose
        # the last commits, and then a message is at worst sent again with the same ID.
        self.db.execute("PRAGMA synchronous = NORMAL")
        migrations.apply(self.db)

    def close(self) -> None:
        self.db.close()

    @property
    def schema_version(self) -> int:
        return len(migrations.applied(self.db))

    @contextmanager
    def atomic(self) -> Iterator[Register]:
        with self.db.atomic():
            yield self

    def _rows(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        return list(self.db.query(sql, params))

    # -- audit -----------------------------------------------------------------------------

    def audit(self, now: datetime, action: str, subject: str, **detail: Any) -> None:
        self.db.table("audit").insert({"at": now.isoformat(), "action": action, "subject": subject,
                                 "detail": json.dumps(detail, default=str, sort_keys=True)})

    def audit_log(self, subject: str | None = None) -> list[dict[str, Any]]:
        where, params = ("WHERE subject = ?", [subject]) if subject else ("", [])
        return self._rows(f"SELECT * FROM audit {where} ORDER BY id", params)

    # -- policies --------------------------------------------------------------------------

    def policies(self) -> list[PolicyRecord]:
        return [_policy(r) for r in self._rows(_POLICY_QUERY + " ORDER BY p.id")]

    def policy(self, policy_id: str) -> PolicyRecord | None:
        rows = self._rows(_POLICY_QUERY + " WHERE p.id = ?", [policy_id])
        return _policy(rows[0]) if rows else None

    def policy_ids(self) -> list[str]:
        return [r["id"] for r in self._rows("SELECT id FROM policies ORDER BY id")]

    def add_policy(self, source: PolicySource, now: datetime) -> None:
        stamp = now.isoformat()
        self.db.table("policies").insert(
            {"id": source.id, **_policy_fields(source), "created_at": stamp, "updated_at": stamp}
        )
        self.audit(now, "policy.added", source.id, title=source.title, source=source.path.name)

    def update_policy(self, source: PolicySource, now: datetime) -> list[str]:
        """Bring the policy's fields in line with its source; returns the names that changed."""
        current = self._rows("SELECT * FROM policies WHERE id = ?", [source.id])[0]
        new = _policy_fields(source)
        changed = [k for k, v in new.items() if current[k] != v]
        if changed:
            self.db.table("policies").update(source.id, {**new, "updated_at": now.isoformat()})
            self.audit(now, "policy.updated", source.id,
                       changes={k: [current[k], new[k]] for k in changed})
        return changed

    def versions(self, policy_id: str) -> list[dict[str, Any]]:
        return self._rows(
            "SELECT number, sha256, adopted, recorded_at, body FROM versions"
            " WHERE policy_id = ? ORDER BY number", [policy_id])

    def _next_number(self, table: str, policy_id: str) -> int:
        row = self.db.execute(
            f"SELECT coalesce(max(number), 0) + 1 FROM {table} WHERE policy_id = ?", [policy_id]
        ).fetchone()
        return int(row[0])

    def add_version(self, policy_id: str, sha256: str, adopted: date, body: str,
                    now: datetime) -> int:
        number = self._next_number("versions", policy_id)
        self.db.table("versions").insert({
            "policy_id": policy_id, "number": number, "sha256": sha256,
            "adopted": adopted.isoformat(), "body": body, "recorded_at": now.isoformat(),
        })
        self.audit(now, "version.adopted", policy_id, version=number, adopted=adopted,
                   sha256=sha256)
        return number

    def version(self, policy_id: str, number: int) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM versions WHERE policy_id = ? AND number = ?",
                          [policy_id, number])
        return rows[0] if rows else None

    def cycles(self, policy_id: str) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM review_cycles WHERE policy_id = ? ORDER BY number",
                          [policy_id])

    def open_cycle(self, policy_id: str, opened: date, due: date, now: datetime) -> None:
        number = self._next_number("review_cycles", policy_id)
        self.db.table("review_cycles").insert({"policy_id": policy_id, "number": number,
                                         "opened": opened.isoformat(), "due": due.isoformat()})
        self.audit(now, "review_cycle.opened", policy_id, cycle=number, opened=opened, due=due)

    def set_cycle_due(self, policy_id: str, cycle: int, due: date, now: datetime) -> None:
        self.db.execute("UPDATE review_cycles SET due = ? WHERE policy_id = ? AND number = ?",
                        [due.isoformat(), policy_id, cycle])
        self.audit(now, "review_cycle.due_changed", policy_id, cycle=cycle, due=due)

    def reviews(self, policy_id: str) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM reviews WHERE policy_id = ? ORDER BY id", [policy_id])

    def add_review(self, policy: PolicyRecord, reviewed_on: date, next_due: date,
                   version: int, notes: str, now: datetime) -> None:
        """Close the open review cycle with this review and open the next one."""
        cycle_id = self.db.execute(
            "SELECT id FROM review_cycles WHERE policy_id = ? AND number = ?",
            [policy.id, policy.cycle]).fetchone()[0]
        self.db.execute("UPDATE review_cycles SET closed = ? WHERE id = ?",
                        [reviewed_on.isoformat(), cycle_id])
        self.db.table("reviews").insert({
            "policy_id": policy.id, "cycle_id": cycle_id, "reviewed_on": reviewed_on.isoformat(),
            "next_due": next_due.isoformat(), "version_number": version,
            "text_changed": int(version != policy.version), "notes": notes,
            "recorded_at": now.isoformat(),
        })
        self.audit(now, "review.recorded", policy.id, cycle=policy.cycle, reviewed_on=reviewed_on,
                   next_due=next_due, version=version, notes=notes)
        self.open_cycle(policy.id, reviewed_on, next_due, now)

    # -- people ----------------------------------------------------------------------------

    def people(self) -> list[Person]:
        return [_person(r) for r in self._rows("SELECT * FROM people ORDER BY name, email_key")]

    def person(self, key: str) -> Person | None:
        rows = self._rows("SELECT * FROM people WHERE email_key = ?", [key])
        return _person(rows[0]) if rows else None

    def upsert_person(self, person: Person, key: str, now: datetime) -> str:
        """Add or update by email key; returns 'added', 'updated' or 'unchanged'."""
        values = {
            "name": person.name, "email": person.email, "roles": json.dumps(list(person.roles)),
            "start_date": person.start_date.isoformat() if person.start_date else None,
            "end_date": person.end_date.isoformat() if person.end_date else None,
        }
        rows = self._rows("SELECT * FROM people WHERE email_key = ?", [key])
        if not rows:
            stamp = now.isoformat()
            self.db.table("people").insert(
                {**values, "email_key": key, "created_at": stamp, "updated_at": stamp})
            self.audit(now, "person.added", key, **values)
            return "added"
        changes = {k: [rows[0][k], v] for k, v in values.items() if rows[0][k] != v}
        if not changes:
            return "unchanged"
        self.db.table("people").update(rows[0]["id"], {**values, "updated_at": now.isoformat()})
        self.audit(now, "person.updated", key, changes=changes)
        return "updated"
