"""Plain values the domain passes around. No I/O here."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path

ROLES = ("staff", "volunteer", "governor", "clerk", "contractor", "office", "head")


def email_key(email: str) -> str:
    """People are the same person when their addresses match ignoring case."""
    return email.strip().lower()


def text_hash(body: str) -> str:
    """The hash that identifies a version's text: line endings and trailing space do not count."""
    normal = "\n".join(line.rstrip() for line in body.replace("\r\n", "\n").split("\n")).strip()
    return hashlib.sha256(normal.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class PolicySource:
    """A validated ``data/policies/<id>.md``: front matter fields and the Markdown body."""

    path: Path
    id: str
    title: str
    school: str
    approver: str
    adopted: date
    review_due: date
    review_interval_months: int
    audiences: tuple[str, ...]
    reminder_audience: tuple[str, ...]
    related: tuple[str, ...]
    body: str

    @property
    def sha256(self) -> str:
        return text_hash(self.body)


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    roles: tuple[str, ...]
    start_date: date | None = None
    end_date: date | None = None

    def active_on(self, day: date) -> bool:
        """Leavers receive nothing after their end date; starters nothing before their start."""
        if self.start_date and day < self.start_date:
            return False
        return not (self.end_date and day > self.end_date)


@dataclass(frozen=True)
class PolicyRecord:
    """A policy as the register holds it now: its current version and open review cycle."""

    id: str
    title: str
    school: str
    approver: str
    review_interval_months: int
    audiences: tuple[str, ...]
    reminder_audience: tuple[str, ...]
    related: tuple[str, ...]
    source: str
    version: int
    adopted: date
    sha256: str
    cycle: int
    cycle_opened: date
    review_due: date
    first_adopted: date
