"""The outbox: every message is recorded here, with its decision, before any attempt to send.

Statuses: ``pending`` (to send), ``sending`` (in flight; after a crash it is sent again with
the same Message-ID), ``sent``, ``failed`` (permanent, or temporary for too long), ``skipped``
(a stale stage recorded so it is never sent). Rows are never deleted.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any

from lifecycle.errors import LifecycleError
from lifecycle.model import Person
from lifecycle.rules import SKIP, Decision, Record
from lifecycle.store import Register

PENDING, SENDING, SENT, FAILED, SKIPPED = "pending", "sending", "sent", "failed", "skipped"
STATUSES = (PENDING, SENDING, SENT, FAILED, SKIPPED)


def message_id(key: str, sender: str) -> str:
    """Derived from the key alone, so a message sent again is recognisably the same one."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "policy-lifecycle.invalid"
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}@{domain}>"


@dataclass(frozen=True)
class Message:
    id: int
    key: str
    kind: str
    policy_id: str
    period: str
    stage: str
    person_key: str
    to_name: str
    to_email: str
    office_copy: bool
    eligible: str
    status: str
    message_id: str
    attempts: int
    decided_at: str

    @classmethod
    def of(cls, row: dict[str, Any]) -> Message:
        return cls(**{k: row[k] for k in cls.__dataclass_fields__})


class Outbox:
    """All SQL about messages. Shares the register's connection and transactions."""

    def __init__(self, register: Register) -> None:
        self.register = register
        self.db = register.db

    def record(self) -> Record:
        return Record.of(self.db.execute(
            "SELECT kind, policy_id, period, stage, person_key, status, decided_at"
            " FROM messages").fetchall())

    def enqueue(self, decisions: list[Decision], people: dict[str, Person], sender: str,
                now: datetime) -> int:
        """Record decisions (call inside the transaction that decided them); returns how many
        were new. A key already recorded is left alone, so enqueueing is idempotent."""
        stamp = now.isoformat()
        rows = [{
            "key": d.key, "kind": d.kind, "policy_id": d.policy_id, "period": d.period,
            "stage": d.stage, "person_key": d.person, "to_name": people[d.person].name,
            "to_email": people[d.person].email, "office_copy": int(d.office_copy),
            "eligible": d.eligible.isoformat(),
            "status": SKIPPED if d.action == SKIP else PENDING,
            "message_id": message_id(d.key, sender), "decided_at": stamp,
            "next_attempt_at": None if d.action == SKIP else stamp,
        } for d in decisions]
        before = self.count()
        self.db.table("messages").insert_all(rows, ignore=True, batch_size=500)
        return self.count() - before

    def count(self, status: str | None = None) -> int:
        where, params = ("WHERE status = ?", [status]) if status else ("", [])
        return int(self.db.execute(f"SELECT count(*) FROM messages {where}", params).fetchone()[0])

    def deliverable(self, now: datetime) -> list[Message]:
        """Pending messages whose time has come, and any left in flight by a crash."""
        rows = self.db.query(
            "SELECT * FROM messages WHERE status = ? OR (status = ? AND next_attempt_at <= ?)"
            " ORDER BY id", [SENDING, PENDING, now.isoformat()])
        return [Message.of(r) for r in rows]

    def _set(self, message_id: int, **values: Any) -> None:
        """One committed UPDATE (the per-message path: plain SQL, no read-back)."""
        columns = ", ".join(f"{k} = ?" for k in values)
        with self.db.atomic():
            self.db.execute(f"UPDATE messages SET {columns} WHERE id = ?",
                            [*values.values(), message_id])

    def mark_sending(self, message: Message) -> None:
        self._set(message.id, status=SENDING, attempts=message.attempts + 1)

    def mark_sent(self, message: Message, now: datetime) -> None:
        self._set(message.id, status=SENT, sent_at=now.isoformat(), last_error=None,
                  next_attempt_at=None)

    def mark_retry(self, message: Message, now: datetime, error: str, retry_for: timedelta,
                   max_wait: timedelta = timedelta(hours=1)) -> bool:
        """Back off exponentially (1, 2, 4 ... minutes, at most an hour); give up and mark the
        message failed once it has been retried for ``retry_for``. Returns True if failed."""
        if now - datetime.fromisoformat(message.decided_at) >= retry_for:
            hours = int(retry_for.total_seconds() // 3600)
            self.mark_failed(message, now, f"gave up after {hours} hours: {error}")
            return True
        wait = min(timedelta(minutes=2 ** min(message.attempts, 10)), max_wait)
        self._set(message.id, status=PENDING, last_error=error,
                  next_attempt_at=(now + wait).isoformat())
        return False

    def mark_failed(self, message: Message, now: datetime, error: str) -> None:
        self._set(message.id, status=FAILED, last_error=error, next_attempt_at=None)
        self.register.audit(now, "message.failed", message.policy_id or "digest",
                            key=message.key, error=error)

    def retry(self, message_id: int, now: datetime) -> Message:
        """Put a failed message back in the queue now (``outbox retry ID``)."""
        rows = list(self.db.query("SELECT * FROM messages WHERE id = ?", [message_id]))
        if not rows:
            raise LifecycleError(f"no message {message_id} in the outbox")
        if rows[0]["status"] != FAILED:
            raise LifecycleError(f"message {message_id} is {rows[0]['status']}, not failed")
        with self.db.atomic():
            self.db.table("messages").update(message_id, {
                "status": PENDING, "next_attempt_at": now.isoformat(),
                "decided_at": now.isoformat(), "attempts": 0})
            self.register.audit(now, "message.retried", rows[0]["policy_id"] or "digest",
                                key=rows[0]["key"])
        return Message.of({**rows[0], "status": PENDING})

    def messages(self, status: str | None = None, policy_id: str | None = None,
                 since: str | None = None) -> list[dict[str, Any]]:
        clauses, params = [], []
        for column, value, op in (("status", status, "="), ("policy_id", policy_id, "="),
                                  ("decided_at", since, ">=")):
            if value is not None:
                clauses.append(f"{column} {op} ?")
                params.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        return list(self.db.query(f"SELECT * FROM messages {where} ORDER BY id", params))

    def counts(self) -> dict[str, int]:
        rows = self.db.execute("SELECT status, count(*) FROM messages GROUP BY status")
        return {status: n for status, n in rows.fetchall()}
