"""What the register's aggregates share: the rows as values, and ``Part``, the base of each
aggregate (its statements on the register's one connection, in its transactions)."""

from __future__ import annotations

import json
import sqlite3
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any

from lifecycle.values.model import (
    Confirmation,
    Draft,
    Meeting,
    Person,
    PolicyRecord,
    PolicySource,
)

if TYPE_CHECKING:
    from lifecycle.register.store import Register

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


class Part:
    """One aggregate of the register (``register.policies``, ``register.people`` ...): its
    statements on the register's connection and in its transactions, as ``register.outbox``
    is."""

    def __init__(self, register: Register) -> None:
        self.register = register
        self._db = register._db
        self._one, self._all = register._one, register._all
        self._insert, self._update = register._insert, register._update
        self.transaction = register.transaction

    def audit(self, now: datetime, action: str, subject: str, **detail: Any) -> None:
        self.register.audit.record(now, action, subject, **detail)
