"""Read and confirm in the register: each confirmation (the evidence), and each opening of a
policy from a person's annual page."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from lifecycle.register.rows import (
    Part,
    _confirmation,
)
from lifecycle.values.model import (
    Confirmation,
    Evidence,
)


class Confirmations(Part):
    """Who confirmed which version, when, and in which school year."""

    def of_person(self, person_key: str) -> list[Confirmation]:
        return [_confirmation(r) for r in self._all(
            "SELECT * FROM confirmations WHERE person_key = ? ORDER BY confirmed_at, id",
            [person_key])]

    def add(self, confirmation: Confirmation, now: datetime,
                         yearly: bool = False) -> bool:
        """Record the evidence once per person and version (``yearly``: once per person,
        version and school year); True if it is new."""
        c = confirmation
        with self.transaction():
            if self.get(c.person_key, c.policy_id, c.version,
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

    def get(self, person_key: str, policy_id: str, version: int,
                     school_year: str | None = None) -> Confirmation | None:
        """The person's confirmation of a version (in ``school_year``, if given)."""
        found = self.of_version(policy_id, version, school_year, person_key)
        return found.get(person_key)

    def of_version(self, policy_id: str, version: int, school_year: str | None = None,
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

    def by_person(self, person_key: str) -> dict[tuple[str, int], set[str]]:
        """(policy, version) -> the school years in which this person confirmed it."""
        return self.by_everyone(person_key).get(person_key, {})

    def by_everyone(self, person_key: str | None = None
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

    def years(self) -> dict[str, dict[str, set[str]]]:
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
