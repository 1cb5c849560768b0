"""The school's terms: six half terms a year, from ``[[terms]]`` in the config. Pure rules.

A review may be due by a half term (``summer-2 2027``: the last day of that half term), and the
days between consecutive half terms are holidays, which hold staff messages like closures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from lifecycle.values.dates import date_spans, long_date

HALF_TERMS = ("autumn-1", "autumn-2", "spring-1", "spring-2", "summer-1", "summer-2")
_DUE_TERM = re.compile(r"^\s*((?:autumn|spring|summer)-[12])\s+(\d{4})\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Term:
    """One half term; ``year`` is the calendar year it starts in ("Spring 1 2027")."""

    name: str
    start: date
    end: date

    @property
    def year(self) -> int:
        return self.start.year

    @property
    def label(self) -> str:
        season, number = self.name.split("-")
        return f"{season.capitalize()} {number} {self.year}"

    @property
    def key(self) -> str:
        return f"{self.name} {self.year}"


def parse_terms(value: Any) -> tuple[Term, ...]:
    """``[[terms]]`` tables (name, start, end), sorted; names from HALF_TERMS; no overlaps."""
    terms = []
    for name, start, end in date_spans(value, "terms"):
        if name.lower() not in HALF_TERMS:
            raise ValueError(f"'{name}' is not a half term (names: {', '.join(HALF_TERMS)})")
        terms.append(Term(name.lower(), start, end))
    terms.sort(key=lambda t: t.start)
    for earlier, later in zip(terms, terms[1:], strict=False):
        if later.start <= earlier.end:
            raise ValueError(f"term {later.key} (from {later.start}) overlaps {earlier.key} "
                             f"(to {earlier.end})")
    keys = [t.key for t in terms]
    twice = next((k for k in keys if keys.count(k) > 1), None)
    if twice:
        raise ValueError(f"term {twice} is given twice")
    return tuple(terms)


def holidays(terms: tuple[Term, ...]) -> list[tuple[str, date, date]]:
    """The gaps between consecutive half terms that hold a working day: (name, first, last)."""
    gaps = []
    for earlier, later in zip(terms, terms[1:], strict=False):
        first, last = earlier.end + timedelta(days=1), later.start - timedelta(days=1)
        days = (first + timedelta(days=n) for n in range((last - first).days + 1))
        if any(d.weekday() < 5 for d in days):
            gaps.append((f"holiday after {earlier.label}", first, last))
    return gaps


def is_term_due(text: str) -> bool:
    return _DUE_TERM.match(text) is not None


def term_due(text: str, terms: tuple[Term, ...]) -> date:
    """The last day of the half term ``text`` names (``summer-2 2027``); ValueError if the
    calendar does not have it."""
    m = _DUE_TERM.match(text)
    if m is None:
        raise ValueError(f"'{text}' is not a half term such as 'summer-2 2027'")
    wanted = f"{m[1].lower()} {m[2]}"
    for term in terms:
        if term.key == wanted:
            return term.end
    covered = (f"covers {terms[0].key} to {terms[-1].key}" if terms
               else "is empty: add the school's [[terms]] to config.toml")
    raise ValueError(f"'{wanted}' is not in the school's terms ([[terms]] in config.toml "
                     f"{covered})")


def term_ending(day: date, terms: tuple[Term, ...]) -> Term | None:
    return next((t for t in terms if t.end == day), None)


def due_phrase(day: date, terms: tuple[Term, ...]) -> str:
    """'Summer 2 2027 (by 22 July 2027)' when ``day`` ends a half term, else '22 July 2027'."""
    term = term_ending(day, terms)
    return f"{term.label} (by {long_date(day)})" if term else long_date(day)
