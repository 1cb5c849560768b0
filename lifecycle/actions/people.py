"""The directory of people: reading and validating a staff list exported as CSV.

A school information system's export is taken as it comes: columns in any order, under the
names such systems use (``Surname`` and ``Forename``, ``Email Address``), names written
"Okafor, Adaeze", UK dates, a byte-order mark, semicolons or tabs, UTF-8 or UTF-16."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from email_validator import EmailNotValidError, validate_email

from lifecycle.register.store import Register
from lifecycle.values.dates import parse_date
from lifecycle.values.errors import InputError
from lifecycle.values.model import ROLES, Person, email_key

MAX_BYTES = 5_000_000      # a directory of 50,000 people is about 4 MB
# our column -> the headers that mean it (compared lower-case, '_' as a space)
ALIASES = {
    "name": ("name", "full name", "preferred name", "known as"),
    "forename": ("forename", "first name", "given name", "preferred forename",
                 "legal forename"),
    "surname": ("surname", "last name", "family name", "preferred surname", "legal surname"),
    "email": ("email", "email address", "e-mail", "e-mail address", "work email",
              "school email"),
    "roles": ("roles", "role"),
    "start_date": ("start date", "start", "employment start", "date started"),
    "end_date": ("end date", "end", "leaving date", "employment end", "date left"),
}
_HEADERS = {alias: column for column, aliases in ALIASES.items() for alias in aliases}
DATES = ("start_date", "end_date")
EXPECTED = "name (or surname and forename), email, roles, start_date, end_date"


@dataclass
class PeopleFile:
    """What a CSV holds: valid rows (with their line), one error per rejected row, the
    columns it gave and the ones ignored."""

    people: list[tuple[int, Person]] = field(default_factory=list)
    rejected: list[InputError] = field(default_factory=list)
    columns: set[str] = field(default_factory=set)
    ignored: list[str] = field(default_factory=list)


def _has_undecodable(values: list[str]) -> bool:
    return any(any("\udc80" <= ch <= "\udcff" for ch in v) for v in values)


def display_name(row: dict[str, str]) -> str:
    """The name people use: "Okafor, Adaeze" becomes "Adaeze Okafor"; without a name column,
    forename and surname."""
    name = row.get("name", "").strip()
    if name.count(",") == 1:
        surname, forename = (part.strip() for part in name.split(","))
        if surname and forename:
            return f"{forename} {surname}"
    if name:
        return name
    return f"{row.get('forename', '').strip()} {row.get('surname', '').strip()}".strip()


def parse_person(row: dict[str, str], path: Path | None, line: int | None) -> Person:
    def fail(column: str, message: str) -> InputError:
        return InputError(message, file=path, line=line, field=column)

    name = display_name(row)
    if not name:
        raise fail("name", "is empty")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise fail("name", "contains control characters")
    try:
        email = validate_email(row["email"].strip(), check_deliverability=False).normalized
    except EmailNotValidError as e:
        raise fail("email", f"'{row['email'].strip()}' is not a valid address ({e})") from None
    roles = tuple(r.strip().lower() for r in re.split(r"[;,]", row["roles"]) if r.strip())
    if not roles:
        raise fail("roles", f"is empty (roles: {', '.join(ROLES)}, separated by ';')")
    for role in roles:
        if role not in ROLES:
            raise fail("roles", f"unknown role '{role}' (roles: {', '.join(ROLES)})")
    dates = {}
    for column in DATES:
        value = row.get(column, "").strip()
        try:
            dates[column] = parse_date(value) if value else None
        except ValueError as e:
            raise fail(column, str(e)) from None
    start, end = dates["start_date"], dates["end_date"]
    if start and end and end < start:
        raise fail("end_date", f"{end} is before start_date {start}")
    return Person(name=name, email=email, roles=tuple(dict.fromkeys(roles)), start_date=start,
                  end_date=end)


def _decode(data: bytes, path: Path) -> str:
    """UTF-8 (with or without its byte-order mark), or UTF-16 as Excel's "Unicode text"."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise InputError("not readable UTF-16 text (save the file as 'CSV UTF-8')",
                             file=path, line=1, field="encoding") from None
    if len(data) > 3 and data[1::2].count(0) > len(data) // 4:
        raise InputError("UTF-16 text without its byte-order mark: save the file as "
                         "'CSV UTF-8'", file=path, line=1, field="encoding")
    return data.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")


def _delimiter(text: str) -> str:
    """Comma, semicolon (spreadsheets set to a European locale) or tab (Excel's "Unicode
    text"): whichever the header line has most of."""
    header = text.split("\n", 1)[0]
    return max(",;\t", key=header.count)


def read_people(path: Path) -> PeopleFile:
    """Every row checked; a header without the columns we need rejects the whole file."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise InputError(f"is larger than {MAX_BYTES // 1_000_000} MB: is it the staff list?",
                             file=path)
        text = _decode(path.read_bytes(), path)
    except OSError as e:
        raise InputError(e.strerror or str(e), file=path) from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    try:
        return _read_rows(reader, path)
    except csv.Error as e:     # a field longer than the csv module allows, a stray NUL
        raise InputError(f"not a readable CSV file ({e})", file=path,
                         line=reader.line_num or 1) from None


def _header(given: list[str], path: Path) -> tuple[list[str | None], PeopleFile]:
    """Each header's column (None: ignored); the columns must name a person."""
    found: PeopleFile = PeopleFile()
    header: list[str | None] = []
    for text in given:
        column = _HEADERS.get(" ".join(text.replace("_", " ").lower().split()))
        if column in found.columns:
            raise InputError(f"two columns mean {column} ('{text}' is the second)",
                             file=path, line=1, field="header")
        header.append(column)
        if column is None:
            found.ignored.append(text.strip())
        else:
            found.columns.add(column)
    named = "name" in found.columns or {"forename", "surname"} <= found.columns
    if not named or not {"email", "roles"} <= found.columns:
        raise InputError(f"expected the columns {EXPECTED}, got {','.join(given)}",
                         file=path, line=1, field="header")
    return header, found


def _read_rows(reader: Any, path: Path) -> PeopleFile:
    header, result = _header(next(reader, []), path)
    seen: dict[str, int] = {}
    line = reader.line_num + 1
    for values in reader:
        try:
            if not any(v.strip() for v in values):
                continue
            if _has_undecodable(values):
                raise InputError("not UTF-8 text (save the file as UTF-8 CSV)", file=path,
                                 line=line, field="encoding")
            if len(values) != len(header):
                raise InputError(f"expected {len(header)} values, got {len(values)}",
                                 file=path, line=line, field="columns")
            row = {c: v for c, v in zip(header, values, strict=True) if c is not None}
            person = parse_person(row, path, line)
            key = email_key(person.email)
            if key in seen:
                raise InputError(f"{person.email} already appears on line {seen[key]}",
                                 file=path, line=line, field="email")
            seen[key] = line
            result.people.append((line, person))
        except InputError as e:
            result.rejected.append(e)
        finally:
            line = reader.line_num + 1
    return result


FIELDS = ("name", "email", "roles", "start_date", "end_date")


@dataclass(frozen=True)
class RowOutcome:
    """What importing one row does: added, changed (field -> before, after) or unchanged."""

    line: int
    person: Person
    outcome: str
    changes: dict[str, tuple[Any, Any]]


@dataclass(frozen=True)
class Preview:
    rows: list[RowOutcome]
    rejected: list[InputError]
    ignored: list[str]

    def count(self, outcome: str) -> int:
        return sum(r.outcome == outcome for r in self.rows)

    def as_json(self) -> dict[str, Any]:
        def value(v: Any) -> Any:
            return list(v) if isinstance(v, tuple) else v

        return {"rows": [{"line": r.line, "outcome": r.outcome, "name": r.person.name,
                          "email": r.person.email,
                          "changes": {f: [value(a), value(b)] for f, (a, b) in r.changes.items()}}
                         for r in self.rows],
                "rejected": [{"line": e.line, "field": e.field, "message": e.message}
                             for e in self.rejected],
                "ignored_columns": self.ignored}


def preview_people(register: Register, path: Path) -> Preview:
    """What importing the file would do, row by row, without changing anything. A date column
    the file does not have keeps what the register holds."""
    parsed = read_people(path)
    rows = []
    for line, person in parsed.people:
        before = register.people.get(email_key(person.email))
        if before is None:
            rows.append(RowOutcome(line, person, "added", {}))
            continue
        kept = {c: getattr(before, c) for c in DATES if c not in parsed.columns}
        person = replace(person, **kept)
        changes = {f: (getattr(before, f), getattr(person, f)) for f in FIELDS
                   if getattr(before, f) != getattr(person, f)}
        rows.append(RowOutcome(line, person, "changed" if changes else "unchanged", changes))
    return Preview(rows, parsed.rejected, parsed.ignored)


@dataclass(frozen=True)
class ImportResult:
    added: int
    updated: int
    unchanged: int
    rejected: list[InputError]


def import_people(register: Register, path: Path, skip_invalid: bool, now: datetime,
                  by: str, name: str = "") -> ImportResult:
    """Upsert every valid row in one transaction; any bad row aborts unless ``skip_invalid``.
    ``name``: the file's name as the office knows it (default: the path's)."""
    with register.transaction():
        preview = preview_people(register, path)
        if preview.rejected and not skip_invalid:
            raise preview.rejected[0]
        counts = {"added": 0, "updated": 0, "unchanged": 0}
        for row in preview.rows:
            counts[register.people.upsert(row.person, email_key(row.person.email), now,
                                          by)] += 1
        if counts["added"] or counts["updated"]:
            register.audit.record(now, "people.imported", name or path.name, **counts,
                                  rejected=len(preview.rejected), by=by)
    return ImportResult(**counts, rejected=preview.rejected)


def _existing(register: Register, key: str) -> Person:
    person = register.people.get(key)
    if person is None:
        raise InputError(f"nobody with the address '{key}' is in the directory", field="email")
    return person


def add_person(register: Register, person: Person, now: datetime, by: str) -> None:
    """One new person (from the dashboard's form); an address already known is an error."""
    with register.transaction():
        known = register.people.get(email_key(person.email))
        if known is not None:
            raise InputError(f"{person.email} is already in the directory, as {known.name}",
                             field="email")
        register.people.upsert(person, email_key(person.email), now, by)


def correct_person(register: Register, key: str, person: Person, now: datetime,
                   by: str) -> str:
    """Correct a person's name, address, roles or dates; a new address carries their
    confirmations and messages with it. Returns 'updated' or 'unchanged'."""
    with register.transaction():
        _existing(register, key)
        new_key = email_key(person.email)
        if new_key != key:
            other = register.people.get(new_key)
            if other is not None:
                raise InputError(f"{person.email} already belongs to {other.name}",
                                 field="email")
            register.people.rekey(key, new_key, now, by)
        return register.people.upsert(person, new_key, now, by)


def mark_leaver(register: Register, key: str, end: date, now: datetime, by: str) -> Person:
    """A leaver: nothing is sent to them after ``end``."""
    with register.transaction():
        person = _existing(register, key)
        if person.start_date and end < person.start_date:
            raise InputError(f"{end} is before their start date {person.start_date}",
                             field="end_date")
        left = replace(person, end_date=end)
        register.people.upsert(left, key, now, by)
        return left
