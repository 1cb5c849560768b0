"""What the school holds about a person, for a subject access request, and erasing a leaver:
their name and address replaced everywhere by a pseudonym, the dates and counts of their
messages and confirmations kept as anonymous evidence (UK GDPR articles 15 and 17)."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from lifecycle.register.store import Register
from lifecycle.values.dates import add_months
from lifecycle.values.errors import InputError, Remedy
from lifecycle.values.model import Person, email_key

ERASED_DOMAIN = "erased.invalid"


def _found(register: Register, email: str) -> Person:
    person = register.people.get(email_key(email))
    if person is None:
        raise InputError(f"nobody with the address '{email}' is in the directory",
                         field="person")
    return person


def export_person(register: Register, email: str, now: datetime) -> dict[str, Any]:
    """Everything held about a person: the directory entry, every message decided for them
    (date and subject), every confirmation, and the audit log's entries about them."""
    person = _found(register, email)
    key = email_key(person.email)
    messages = register.outbox.messages(person_key=key)
    return {
        "exported_at": now.isoformat(timespec="seconds"),
        "person": {"name": person.name, "email": person.email, "roles": list(person.roles),
                   "start_date": person.start_date, "end_date": person.end_date},
        "messages": [{"date": (m.sent_at or m.decided_at).isoformat(timespec="seconds"),
                      "subject": m.subject or None, "kind": str(m.kind),
                      "policy": m.policy_id or None, "status": str(m.status)}
                     for m in messages],
        "confirmations": [{"policy": c.policy_id, "version": c.version,
                           "school_year": c.school_year,
                           "confirmed_at": c.confirmed_at.isoformat(timespec="seconds"),
                           "from_address": c.address or None}
                          for c in register.confirmations.of_person(key)],
        "audit": [{"at": e.at.isoformat(timespec="seconds"), "action": e.action,
                   "detail": json.loads(e.detail)} for e in register.audit.log(key)],
    }


def past_keeping(people: list[Person], today: date, months: int) -> list[Person]:
    """Leavers whose end date is more than ``months`` ago, not yet erased: to erase."""
    return [p for p in people if p.end_date and add_months(p.end_date, months) < today
            and not p.email.endswith("@" + ERASED_DOMAIN)]


@dataclass(frozen=True)
class Erasure:
    pseudonym: Person
    counts: dict[str, int]
    files: int


ScrubFiles = Callable[[re.Pattern[str], Person], int]


def erase_person(register: Register, email: str, today: date, force: bool, now: datetime,
                 by: str, scrub_files: ScrubFiles) -> Erasure:
    """Replace the person's name and address with a pseudonym in the register and, through
    ``scrub_files``, in the mail kept as files; then rewrite the database file so that no
    copy of them remains in it. Someone still active is erased only with ``force``."""
    person = _found(register, email)
    if person.email.endswith("@" + ERASED_DOMAIN):
        raise InputError(f"'{email}' has already been erased", field="person")
    if person.active_on(today) and not force:
        raise InputError(f"{person.name} is still active (no end date before today): mark "
                         "them as a leaver first", field="person", remedy=Remedy.FORCE)
    tag = secrets.token_hex(4)
    pseudonym = Person(f"Erased person {tag}", f"erased-{tag}@{ERASED_DOMAIN}", person.roles,
                       person.start_date, person.end_date or today)
    known = _known(register, person)
    pattern = re.compile("|".join(re.escape(k) for k in sorted(known, key=len, reverse=True)),
                         re.IGNORECASE)
    files = scrub_files(pattern, pseudonym)
    counts = register.people.pseudonymise(email_key(person.email), pseudonym, pattern, now, by)
    register.compact()
    return Erasure(pseudonym, counts, files)


def _known(register: Register, person: Person) -> list[str]:
    """Every name and address the register has held for the person (a corrected name is
    still in the audit log), as written and as JSON escapes them."""
    known = {person.name, person.email, email_key(person.email)}
    for entry in register.audit.log(email_key(person.email)):
        detail = json.loads(entry.detail)
        known.update(str(v) for k, v in detail.items() if k in ("name", "email"))
        for field in ("name", "email"):
            known.update(str(v) for v in detail.get("changes", {}).get(field, []) if v)
        if entry.action == "person.address_changed":
            known.add(str(detail["before"]))
    escaped = {json.dumps(k)[1:-1] for k in known}
    return sorted({k for k in known | escaped if k.strip()})
