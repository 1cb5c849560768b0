"""The directory of people in the register: each person by email key, with an opaque
reference for their links; a new address carries their evidence with it; erasure."""

from __future__ import annotations

import re
from datetime import datetime

from lifecycle.register.rows import (
    Part,
    _person,
    _person_fields,
)
from lifecycle.values.model import (
    Person,
    new_ref,
)


class People(Part):
    """The directory: each person by email key."""

    def all(self) -> list[Person]:
        return [_person(r) for r in self._all("SELECT * FROM people ORDER BY name, email_key")]

    def get(self, key: str) -> Person | None:
        row = self._one("SELECT * FROM people WHERE email_key = ?", [key])
        return _person(row) if row else None

    def upsert(self, person: Person, key: str, now: datetime, by: str) -> str:
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

    def key_of(self, ref: str) -> str | None:
        """The person an opaque reference (from a link) stands for."""
        row = self._one("SELECT email_key FROM people WHERE ref = ?", [ref])
        return str(row[0]) if row else None

    def refs(self) -> dict[str, str]:
        """Each person's opaque reference, by key: what their links carry."""
        return dict(self._db.execute("SELECT email_key, ref FROM people").fetchall())

    def rekey(self, old: str, new: str, now: datetime, by: str) -> None:
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
