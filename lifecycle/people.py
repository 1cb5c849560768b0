"""The directory of people: reading and validating a CSV export (name,email,roles,...)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from email_validator import EmailNotValidError, validate_email

from .dates import parse_date
from .errors import InputError
from .model import ROLES, Person, email_key
from .store import Register

COLUMNS = ("name", "email", "roles", "start_date", "end_date")
MAX_BYTES = 5_000_000      # a directory of 50,000 people is about 4 MB


@dataclass
class PeopleFile:
    """What a CSV holds: valid rows (with their line) and one error per rejected row."""

    people: list[tuple[int, Person]] = field(default_factory=list)
    rejected: list[InputError] = field(default_factory=list)


def _has_undecodable(values: list[str]) -> bool:
    return any(any("\udc80" <= ch <= "\udcff" for ch in v) for v in values)


def parse_person(row: dict[str, str], path: Path, line: int) -> Person:
    def fail(column: str, message: str) -> InputError:
        return InputError(message, file=path, line=line, field=column)

    name = row["name"].strip()
    if not name:
        raise fail("name", "is empty")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise fail("name", "contains control characters")
    try:
        email = validate_email(row["email"].strip(), check_deliverability=False).normalized
    except EmailNotValidError as e:
        raise fail("email", f"'{row['email'].strip()}' is not a valid address ({e})") from None
    roles = tuple(r.strip().lower() for r in row["roles"].split(";") if r.strip())
    if not roles:
        raise fail("roles", f"is empty (roles: {', '.join(ROLES)}, separated by ';')")
    for role in roles:
        if role not in ROLES:
            raise fail("roles", f"unknown role '{role}' (roles: {', '.join(ROLES)})")
    dates = {}
    for column in ("start_date", "end_date"):
        value = row[column].strip()
        try:
            dates[column] = parse_date(value) if value else None
        except ValueError as e:
            raise fail(column, str(e)) from None
    start, end = dates["start_date"], dates["end_date"]
    if start and end and end < start:
        raise fail("end_date", f"{end} is before start_date {start}")
    return Person(name=name, email=email, roles=tuple(dict.fromkeys(roles)), start_date=start,
                  end_date=end)


def read_people(path: Path) -> PeopleFile:
    """Every row checked; a header that is not exactly our columns rejects the whole file."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise InputError(f"is larger than {MAX_BYTES // 1_000_000} MB: is it the staff list?",
                             file=path)
        text = path.read_bytes().decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    except OSError as e:
        raise InputError(e.strerror or str(e), file=path) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        return _read_rows(reader, path)
    except csv.Error as e:     # a field longer than the csv module allows, a stray NUL
        raise InputError(f"not a readable CSV file ({e})", file=path,
                         line=reader.line_num or 1) from None


def _read_rows(reader: Any, path: Path) -> PeopleFile:
    header = [h.strip().lower() for h in next(reader, [])]
    if sorted(header) != sorted(COLUMNS):
        raise InputError(f"expected the columns {','.join(COLUMNS)}, got {','.join(header)}",
                         file=path, line=1, field="header")
    result = PeopleFile()
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
            person = parse_person(dict(zip(header, values, strict=True)), path, line)
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


@dataclass(frozen=True)
class ImportResult:
    added: int
    updated: int
    unchanged: int
    rejected: list[InputError]


def import_people(register: Register, path: Path, skip_invalid: bool,
                  now: datetime) -> ImportResult:
    """Upsert every valid row in one transaction; any bad row aborts unless ``skip_invalid``."""
    parsed = read_people(path)
    if parsed.rejected and not skip_invalid:
        raise parsed.rejected[0]
    counts = {"added": 0, "updated": 0, "unchanged": 0}
    with register.transaction():
        for _, person in parsed.people:
            counts[register.upsert_person(person, email_key(person.email), now)] += 1
        if counts["added"] or counts["updated"]:
            register.audit(now, "people.imported", path.name, **counts,
                           rejected=len(parsed.rejected))
    return ImportResult(**counts, rejected=parsed.rejected)
