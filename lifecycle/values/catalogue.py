"""The statutory policies a school in England must keep (``catalogues/england.toml``), and
where this school's register stands against them. Pure, apart from reading the data file."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from lifecycle.values.errors import InputError, Remedy
from lifecycle.values.model import PolicyRecord

CATALOGUE = Path(__file__).parent / "catalogues" / "england.toml"
APPLIES = ("all", "maintained", "academy")
PHASES = ("all", "primary", "secondary")
APPROVERS = ("governing board", "headteacher", "delegable")
REVIEWS = {"1 year": 12, "2 years": 24, "3 years": 36, "4 years": 48, "school decides": None}
BASES = ("duty", "recommendation")
_FIELDS = {"id", "title", "applies", "phase", "approver", "review", "basis", "publish", "staff",
           "source", "note"}


@dataclass(frozen=True)
class Entry:
    id: str
    title: str
    applies: str
    phase: str
    approver: str
    review: str
    basis: str
    publish: bool
    staff: bool
    source: str
    note: str = ""

    @property
    def interval_months(self) -> int | None:
        """None when the school decides how often."""
        return REVIEWS[self.review]

    def applies_to(self, school_type: str, phase: str) -> bool:
        phases = {"primary": {"all", "primary"}, "secondary": {"all", "secondary"},
                  "all-through": set(PHASES)}[phase]
        return self.applies in ("all", school_type) and self.phase in phases


def _entry(item: Any, number: int, path: Path) -> Entry:
    def bad(message: str) -> InputError:
        return InputError(message, file=path, field=f"policy {number}")

    if not isinstance(item, dict):
        raise bad("each [[policy]] must be a table")
    missing = _FIELDS - {"note"} - set(item)
    unknown = set(item) - _FIELDS
    if missing or unknown:
        raise bad(f"missing {sorted(missing)} / unknown {sorted(unknown)}")
    for key, allowed in (("applies", APPLIES), ("phase", PHASES), ("approver", APPROVERS),
                         ("review", tuple(REVIEWS)), ("basis", BASES)):
        if item[key] not in allowed:
            raise bad(f"{key} is {item[key]!r}, not one of {', '.join(allowed)}")
    if not all(isinstance(item[k], bool) for k in ("publish", "staff")):
        raise bad("publish and staff must be true or false")
    if not str(item["source"]).startswith("https://www.gov.uk/"):
        raise bad("source must be a gov.uk page")
    return Entry(**{k: item[k] for k in _FIELDS if k in item})


def load_catalogue(path: Path = CATALOGUE) -> list[Entry]:
    """Every entry, validated; ids unique."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    entries = [_entry(item, n, path) for n, item in enumerate(data.get("policy", []), start=1)]
    ids = [e.id for e in entries]
    twice = next((i for i in ids if ids.count(i) > 1), None)
    if twice:
        raise InputError(f"entry '{twice}' appears twice", file=path)
    return entries


def entry(entry_id: str, entries: list[Entry]) -> Entry:
    for e in entries:
        if e.id == entry_id:
            return e
    near = [e.id for e in entries if entry_id in e.id or e.id in entry_id]
    hint = f"; did you mean '{near[0]}'?" if near else " (see the 'catalogue' command)"
    raise InputError(f"'{entry_id}' is not in the catalogue of statutory policies{hint}",
                     field="statutory")


@dataclass(frozen=True)
class Standing:
    """One catalogue entry against this school's register."""

    entry: Entry
    state: str                  # present, overdue, missing or not applicable
    policies: tuple[PolicyRecord, ...]
    reason: str = ""            # why the school marked it not applicable

    @property
    def gap(self) -> bool:
        """Missing or overdue: what the digest and the dashboard report."""
        return self.state in ("missing", "overdue")

    def as_json(self) -> dict[str, Any]:
        e = self.entry
        return {"id": e.id, "title": e.title, "state": self.state,
                "policies": [p.id for p in self.policies], "approver": e.approver,
                "review": e.review, "basis": e.basis, "publish": e.publish,
                "applies": e.applies, "phase": e.phase, "source": e.source, "note": e.note,
                "not_applicable_because": self.reason or None}


def standings(entries: list[Entry], policies: list[PolicyRecord], school_type: str,
              phase: str, today: date, exempt: dict[str, str] | None = None) -> list[Standing]:
    """Each entry that applies to this school, with the policies that claim it (by their
    ``statutory:`` line): missing when none does (not applicable, when the school has said
    so in ``exempt``, entry -> reason), overdue when one is past its review date."""
    exempt = exempt or {}
    out = []
    for e in entries:
        if not e.applies_to(school_type, phase):
            continue
        mine = tuple(p for p in policies if p.statutory == e.id)
        state = ("not applicable" if not mine and e.id in exempt else "missing" if not mine
                 else "overdue" if any(p.review_due < today for p in mine) else "present")
        out.append(Standing(e, state, mine, exempt.get(e.id, "") if not mine else ""))
    return out


def body_for(e: Entry, approvers: dict[str, tuple[str, ...]]) -> str:
    """The configured approving body for an entry: the headteacher's body for a head's
    policy, else the governing board (the body whose members include governors)."""
    role = "head" if e.approver == "headteacher" else "governor"
    for name, roles in approvers.items():
        if role in roles:
            return name
    who = "the headteacher" if role == "head" else "the governing board"
    raise InputError(f"no approving body for {who} in config.toml [approvers] (add one such as "
                     f"\"{'Headteacher' if role == 'head' else 'Governing Body'}\" = "
                     f"[\"{role}\"])", field="approver", remedy=Remedy.GIVE_APPROVER)


def fields_from(e: Entry, approvers: dict[str, tuple[str, ...]]) -> dict[str, object]:
    """A new policy's front matter fields from a catalogue entry: its title, approving body,
    interval (none when the school decides), who reads it and whether it is published."""
    fields: dict[str, object] = {
        "title": e.title, "approver": body_for(e, approvers),
        "reminder_audience": ["staff"] if e.staff else [],
        "statutory": e.id, "publish": e.publish,
    }
    if e.interval_months is not None:
        years = e.interval_months // 12
        fields["review_interval"] = f"{years} year{'' if years == 1 else 's'}"
    return fields
