"""The audit log, append-only (the database refuses updates and deletes of it), and the
office's login."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from lifecycle.register.rows import (
    Part,
)
from lifecycle.values.model import (
    AuditEntry,
)


class Audit(Part):
    """Every change, with when, what, whom it is about and its details."""

    def record(self, now: datetime, action: str, subject: str, **detail: Any) -> None:
        self._insert("audit", {"at": now.isoformat(), "action": action, "subject": subject,
                               "detail": json.dumps(detail, default=str, sort_keys=True)})

    def log(self, subject: str | None = None) -> list[AuditEntry]:
        where, params = ("WHERE subject = ?", [subject]) if subject else ("", [])
        return [AuditEntry(datetime.fromisoformat(r["at"]), r["action"], r["subject"],
                           r["detail"])
                for r in self._all(f"SELECT * FROM audit {where} ORDER BY id", params)]


class Login(Part):
    """The office's password, kept only as an Argon2 hash."""

    def set_hash(self, password_hash: str, now: datetime) -> None:
        with self.transaction():
            self._db.execute("DELETE FROM admin")
            self._insert("admin", {"id": 1, "password_hash": password_hash,
                                   "updated_at": now.isoformat()})
            self.audit(now, "admin.password_set", "admin")

    def hash(self) -> str | None:
        row = self._one("SELECT password_hash FROM admin WHERE id = 1")
        return str(row[0]) if row else None


class Exemptions(Part):
    """Statutory entries marked "not applicable here", each with the school's reason."""

    def all(self) -> dict[str, str]:
        return {r[0]: r[1] for r in self._all("SELECT entry, reason FROM not_applicable")}

    def mark(self, entry: str, reason: str, who: str, now: datetime) -> None:
        with self.transaction():
            self._db.execute("INSERT OR REPLACE INTO not_applicable VALUES (?, ?, ?, ?)",
                             [entry, reason, now.isoformat(), who])
            self.audit(now, "catalogue.not_applicable", entry, reason=reason, by=who)

    def clear(self, entry: str, who: str, now: datetime) -> bool:
        with self.transaction():
            gone = self._db.execute("DELETE FROM not_applicable WHERE entry = ?", [entry])
            if gone.rowcount:
                self.audit(now, "catalogue.applicable", entry, by=who)
            return bool(gone.rowcount)
