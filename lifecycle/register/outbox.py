"""The outbox: every message is recorded here, with its decision, before any attempt to send.
It is also the record the rules read: who has been sent (or skipped) what.

Statuses are ``model.Status``: a message in flight is ``sending`` and, after a crash, is sent
again with the same Message-ID. Rows are never deleted.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from lifecycle.values.errors import LifecycleError
from lifecycle.values.model import Action, Kind, Person, Status

if TYPE_CHECKING:
    from lifecycle.rules.due import Decision, Record


def mail_domain(sender: str) -> str:
    """The domain of the configured From address, for Message-IDs."""
    from email.utils import parseaddr

    return parseaddr(sender)[1].rpartition("@")[2] or "policy-lifecycle.invalid"


def message_id(key: str, domain: str) -> str:
    """Derived from the key alone, so a message sent again is recognisably the same one."""
    import hashlib  # here: most commands never make a Message-ID, and it costs 4 ms

    return f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}@{domain}>"


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class Message:
    id: int
    key: str
    kind: Kind
    policy_id: str
    period: str
    stage: str
    person_key: str
    to_name: str
    to_email: str
    office_copy: bool
    eligible: date
    status: Status
    message_id: str
    attempts: int
    decided_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str
    subject: str = ""

    @classmethod
    def of(cls, row: sqlite3.Row) -> Message:
        return cls(
            id=row["id"], key=row["key"], kind=Kind(row["kind"]), policy_id=row["policy_id"] or "",
            period=row["period"] or "", stage=row["stage"] or "", person_key=row["person_key"],
            to_name=row["to_name"], to_email=row["to_email"], office_copy=bool(row["office_copy"]),
            eligible=date.fromisoformat(row["eligible"]), status=Status(row["status"]),
            message_id=row["message_id"], attempts=row["attempts"],
            decided_at=datetime.fromisoformat(row["decided_at"]),
            next_attempt_at=_when(row["next_attempt_at"]), sent_at=_when(row["sent_at"]),
            last_error=row["last_error"] or "", subject=row["subject"] or "")


@dataclass(frozen=True)
class Pause:
    """Delivery stopped until ``until``: the server refused to let us sign in or send as our
    address (``cause`` "sign-in"), or said we were sending too fast ("throttled")."""

    at: datetime
    until: datetime
    cause: str
    reason: str

    @classmethod
    def of(cls, row: sqlite3.Row) -> Pause:
        return cls(datetime.fromisoformat(row[0]), datetime.fromisoformat(row[1]), row[2], row[3])


Transaction = Callable[[], AbstractContextManager[Any]]
Audit = Callable[..., None]


class Outbox:
    """All SQL about messages, on the register's connection and in its transactions."""

    def __init__(self, db: sqlite3.Connection, transaction: Transaction, audit: Audit) -> None:
        self._db = db
        self._transaction = transaction
        self._audit = audit

    def record(self, since: date | None = None,
               open_groups: Iterable[tuple[str, str, str]] = ()) -> Record:
        """What the rules read: every message decided from ``since`` on, and the older ones
        of the ``open_groups`` (kind, policy, period) that stay open across years (a review
        cycle, a version's update notice, a meeting's pack); everything without ``since``.
        So evaluation reads what the open periods need, not the whole history."""
        from lifecycle.rules.due import Record

        columns = "SELECT kind, policy_id, period, stage, person_key, status, decided_at" \
                  " FROM messages"
        if since is None:
            return Record.of(self._db.execute(columns).fetchall())
        cutoff = since.isoformat()
        rows = self._db.execute(f"{columns} WHERE decided_at >= ?", [cutoff]).fetchall()
        for kind, policy_id, period in open_groups:
            rows += self._db.execute(
                f"{columns} WHERE kind = ? AND policy_id = ? AND period = ? AND decided_at < ?",
                [kind, policy_id, period, cutoff]).fetchall()
        return Record.of(rows)

    def enqueue(self, decisions: Iterable[Decision], people: dict[str, Person], sender: str,
                now: datetime) -> int:
        """Record decisions (call inside the transaction that decided them); returns how many
        were new. A key already recorded is left alone, so enqueueing is idempotent."""
        stamp = now.isoformat()
        domain = mail_domain(sender)
        rows = [(d.key, d.kind, d.policy_id, d.period, d.stage, d.person, people[d.person].name,
                 people[d.person].email, int(d.office_copy), d.eligible.isoformat(),
                 Status.SKIPPED if d.action == Action.SKIP else Status.PENDING,
                 message_id(d.key, domain), stamp, None if d.action == Action.SKIP else stamp)
                for d in decisions]
        with self._transaction():
            before = self.count()
            self._db.executemany(
                "INSERT OR IGNORE INTO messages (key, kind, policy_id, period, stage, person_key,"
                " to_name, to_email, office_copy, eligible, status, message_id, decided_at,"
                " next_attempt_at, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
                rows)
            return self.count() - before

    def count(self, status: Status | None = None) -> int:
        where, params = ("WHERE status = ?", [status]) if status else ("", [])
        row = self._db.execute(f"SELECT count(*) FROM messages {where}", params).fetchone()
        return int(row[0])

    def deliverable(self, now: datetime, page: int = 500) -> Iterator[Message]:
        """Messages left in flight by a crash, then pending messages whose time has come:
        review prompts, packs and the digest, then the bulk mail to staff, each in order,
        read a page at a time (a first delivery at a trust's size is a million rows: they
        are streamed, never all held). Times are
        compared as instants (julianday reads the UTC offset), never as text: a retry
        written at +01:00 is due at the same instant as one written at +00:00. Rows marked
        while the pages are read are not read twice."""
        from lifecycle.rules.pacing import ORDER

        for status, kinds in ((Status.SENDING, tuple(Kind)),
                              *((Status.PENDING, kinds) for kinds in ORDER)):
            after = 0
            marks = ", ".join("?" * len(kinds))
            while rows := self._db.execute(
                    f"SELECT * FROM messages WHERE status = ? AND id > ? AND kind IN ({marks})"
                    " AND (status = ? OR julianday(next_attempt_at) <= julianday(?))"
                    " ORDER BY id LIMIT ?",
                    [status, after, *kinds, Status.SENDING, now.isoformat(), page]).fetchall():
                yield from (Message.of(r) for r in rows)
                after = rows[-1]["id"]

    def waiting(self) -> list[tuple[datetime, Kind, int]]:
        """(ready at, kind, id) of every message waiting to go (not those in flight), for
        the pace's forecast."""
        rows = self._db.execute(
            "SELECT id, kind, next_attempt_at, decided_at FROM messages WHERE status = ?"
            " ORDER BY id", [Status.PENDING])
        return [(datetime.fromisoformat(r[2] or r[3]), Kind(r[1]), r[0]) for r in rows]

    def sent_times(self, since: datetime) -> list[datetime]:
        """When each message sent after ``since`` went, in order: the pace's record. The
        text bound is a day wide of ``since`` (stored offsets differ); the rest is exact."""
        rows = self._db.execute("SELECT sent_at FROM messages WHERE sent_at >= ?",
                                [(since - timedelta(days=1)).isoformat()])
        return sorted(t for t in (datetime.fromisoformat(r[0]) for r in rows) if t > since)

    def hold(self, message: Message, error: str) -> None:
        """Back to pending as it was, the attempt not counted: it was not refused for itself
        (the server would not let us sign in, or asked us to slow down)."""
        self._set(message.id, status=Status.PENDING, attempts=message.attempts,
                  last_error=error)

    def pause(self, pause: Pause) -> None:
        with self._transaction():
            self._db.execute("INSERT INTO mail_pauses (at, until, cause, reason) VALUES "
                             "(?, ?, ?, ?)", [pause.at.isoformat(), pause.until.isoformat(),
                                              pause.cause, pause.reason])

    def pauses(self, since: datetime) -> list[Pause]:
        """Every pause that began after ``since``, oldest first."""
        rows = self._db.execute("SELECT at, until, cause, reason FROM mail_pauses"
                                " WHERE at >= ? ORDER BY id",
                                [(since - timedelta(days=1)).isoformat()])
        return [p for p in map(Pause.of, rows) if p.at > since]

    def paused(self, now: datetime) -> Pause | None:
        """The pause delivery is in at ``now``, if any."""
        row = self._db.execute("SELECT at, until, cause, reason FROM mail_pauses"
                               " ORDER BY id DESC LIMIT 1").fetchone()
        pause = Pause.of(row) if row else None
        return pause if pause and pause.until > now else None

    def _set(self, message_id: int, **values: Any) -> None:
        """One committed UPDATE (the per-message path: plain SQL, no read-back)."""
        columns = ", ".join(f"{k} = ?" for k in values)
        with self._transaction():
            self._db.execute(f"UPDATE messages SET {columns} WHERE id = ?",
                             [*values.values(), message_id])

    def mark_sending(self, message: Message, subject: str,
                     sent: Iterable[Message] = (), now: datetime | None = None) -> None:
        """The message is about to be handed to the server; in the same commit, the ones
        the server has since accepted (``sent`` at ``now``): one commit per message."""
        with self._transaction():
            if now is not None:
                self._mark_sent(sent, now)
            self._db.execute("UPDATE messages SET status = ?, attempts = ?, subject = ?"
                             " WHERE id = ?",
                             [Status.SENDING, message.attempts + 1, subject, message.id])

    def mark_sent(self, messages: Iterable[Message], now: datetime) -> None:
        with self._transaction():
            self._mark_sent(messages, now)

    def _mark_sent(self, messages: Iterable[Message], now: datetime) -> None:
        self._db.executemany(
            "UPDATE messages SET status = ?, sent_at = ?, last_error = NULL,"
            " next_attempt_at = NULL WHERE id = ?",
            [(Status.SENT, now.isoformat(), m.id) for m in messages])

    def mark_retry(self, message: Message, now: datetime, error: str, retry_for: timedelta,
                   max_wait: timedelta = timedelta(hours=1)) -> bool:
        """Back off exponentially (1, 2, 4 ... minutes, at most an hour); give up and mark the
        message failed once it has been retried for ``retry_for``. Returns True if failed."""
        if now - message.decided_at >= retry_for:
            hours = int(retry_for.total_seconds() // 3600)
            self.mark_failed(message, now, f"gave up after {hours} hours: {error}")
            return True
        wait = min(timedelta(minutes=2 ** min(message.attempts, 10)), max_wait)
        self._set(message.id, status=Status.PENDING, last_error=error,
                  next_attempt_at=(now + wait).isoformat())
        return False

    def mark_failed(self, message: Message, now: datetime, error: str) -> None:
        with self._transaction():
            self._set(message.id, status=Status.FAILED, last_error=error, next_attempt_at=None)
            self._audit(now, "message.failed", message.policy_id or "digest", key=message.key,
                        error=error)

    def message(self, message_id: int) -> Message | None:
        row = self._db.execute("SELECT * FROM messages WHERE id = ?", [message_id]).fetchone()
        return Message.of(row) if row else None

    def retry(self, message_id: int, now: datetime) -> Message:
        """Put a failed message back in the queue now (``outbox retry ID``)."""
        with self._transaction():
            message = self.message(message_id)
            if message is None:
                raise LifecycleError(f"no message {message_id} in the outbox")
            if message.status != Status.FAILED:
                raise LifecycleError(f"message {message_id} is {message.status}, not failed")
            self._set(message_id, status=Status.PENDING, next_attempt_at=now.isoformat(),
                      decided_at=now.isoformat(), attempts=0)
            self._audit(now, "message.retried", message.policy_id or "digest", key=message.key)
        return replace(message, status=Status.PENDING, next_attempt_at=now, decided_at=now,
                       attempts=0)

    def messages(self, status: Status | None = None, policy_id: str | None = None,
                 person_key: str | None = None) -> list[Message]:
        clauses, params = [], []
        for column, value in (("status", status), ("policy_id", policy_id),
                              ("person_key", person_key)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._db.execute(f"SELECT * FROM messages {where} ORDER BY id", params)
        return [Message.of(r) for r in rows]

    def counts(self) -> dict[Status, int]:
        rows = self._db.execute("SELECT status, count(*) FROM messages GROUP BY status")
        return {Status(status): n for status, n in rows.fetchall()}

    def skip_pending(self, kind: Kind, period: str, now: datetime) -> int:
        """Never send what is still waiting of these messages (a cancelled meeting's pack)."""
        with self._transaction():
            cursor = self._db.execute(
                "UPDATE messages SET status = ?, next_attempt_at = NULL, last_error = ?"
                " WHERE kind = ? AND period = ? AND status = ?",
                [Status.SKIPPED, "cancelled before it was sent", kind, period, Status.PENDING])
            if cursor.rowcount:
                self._audit(now, "messages.skipped", kind, period=period, count=cursor.rowcount)
            return cursor.rowcount

    def first_decided(self, kind: Kind, period: str) -> datetime | None:
        """When the first message of a kind and period was decided (not skipped), if ever."""
        row = self._db.execute(
            "SELECT min(decided_at) FROM messages WHERE kind = ? AND period = ? AND status != ?",
            [kind, period, Status.SKIPPED]).fetchone()
        return _when(row[0])

    def asked(self, policy_id: str, since: date) -> set[str]:
        """Who has been asked to read and confirm a policy (a reminder or an update notice,
        not skipped) on or after ``since``."""
        rows = self._db.execute(
            "SELECT DISTINCT person_key FROM messages WHERE policy_id = ? AND kind IN (?, ?)"
            " AND status IN (?, ?, ?) AND substr(decided_at, 1, 10) >= ?",
            [policy_id, Kind.REMINDER, Kind.UPDATED, Status.PENDING, Status.SENDING,
             Status.SENT, since.isoformat()])
        return {r[0] for r in rows}

    def chased(self, policy_id: str, stage: str, since: date, until: date) -> set[str]:
        """Who was sent the chaser ``stage`` for a policy from ``since`` to ``until``."""
        rows = self._db.execute(
            "SELECT DISTINCT person_key FROM messages WHERE policy_id = ? AND kind = ?"
            " AND stage = ? AND status = ? AND substr(decided_at, 1, 10) >= ?"
            " AND substr(coalesce(sent_at, decided_at), 1, 10) <= ?",
            [policy_id, Kind.CHASE, stage, Status.SENT, since.isoformat(), until.isoformat()])
        return {r[0] for r in rows}
