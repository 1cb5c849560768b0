"""Read and confirm: signed personal links, and the evidence that someone read a version.

A token names a person's opaque reference (never their name or address), the policy, version
and reminder period, signed with the instance's secret key (data/secret.key, created by init,
mode 0600), so it cannot be guessed, forged or edited.
"""

from __future__ import annotations

import functools
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, Serializer, URLSafeSerializer
from itsdangerous.encoding import base64_encode

from lifecycle.register.store import Register
from lifecycle.values.config import Config
from lifecycle.values.dates import school_year
from lifecycle.values.errors import LifecycleError
from lifecycle.values.model import Confirmation, Person, PolicyRecord, email_key

SECRET_FILE = "secret.key"
_SALT = "policy-lifecycle/ack"
_CALENDAR_SALT = "policy-lifecycle/calendar"
_BUNDLE_SALT = "policy-lifecycle/annual"
_AGENDA_SALT = "policy-lifecycle/agenda"
# The last chaser is given a week to be read before the person is listed as not confirmed.
GRACE_AFTER_LAST_CHASER = timedelta(days=7)
ASK_THE_OFFICE = "Please ask the school office for a new link."


class BadToken(LifecycleError):
    """A link that is not ours, has been altered, or names someone or something unknown."""


def ensure_secret(root: Path) -> bytes:
    """The instance's signing key; made once, readable by its owner only."""
    path = root / SECRET_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


@dataclass(frozen=True)
class Ack:
    person: str
    policy_id: str
    version: int
    period: str


KeyOf = Callable[[str], "str | None"]
_INVALID = f"This link is not valid: it may have been altered or cut short. {ASK_THE_OFFICE}"


class _LinkSerializer(URLSafeSerializer):
    """itsdangerous's URL-safe serializer without its attempt to compress each payload: a
    link's few short fields almost never shrink, and trying costs a zlib stream per link (a
    third of making one). The tokens are the same, unless zlib would have shortened one (a
    long, repetitive policy id): that link is now a little longer. Compressed tokens still
    read."""

    def dump_payload(self, obj: Any) -> bytes:
        return base64_encode(Serializer.dump_payload(self, obj))


@functools.lru_cache(maxsize=16)      # one per salt: made once, not once per link
def _serializer(secret: bytes, salt: str, opaque: bool = True) -> URLSafeSerializer:
    """Links carry the person's opaque reference (``people.ref``), under the salt with
    "/ref"; links sent before that carried their address under the plain salt, and still
    work."""
    return _LinkSerializer(secret, salt=salt + "/ref" if opaque else salt)


def _dumps(secret: bytes, salt: str, ref: str, *rest: object) -> str:
    token: str = _serializer(secret, salt).dumps([ref, *rest])
    return token


def _loads(secret: bytes, salt: str, token: str, key_of: KeyOf, size: int) -> list[Any]:
    """[person key ("" if nobody has the reference), the rest] from a link, or BadToken."""
    try:
        ref, *rest = _serializer(secret, salt).loads(token)
        if len(rest) == size - 1:
            return [key_of(str(ref)) or "", *rest]
    except (BadSignature, ValueError, TypeError):
        pass
    try:
        old = _serializer(secret, salt, opaque=False).loads(token)
        values = [old] if isinstance(old, str) else list(old)
        if len(values) == size:
            return values
    except (BadSignature, ValueError, TypeError):
        pass
    raise BadToken(_INVALID)


def make_token(secret: bytes, ack: Ack, ref: str) -> str:
    """A person's link to read and confirm one version; ``ref``: their opaque reference."""
    return _dumps(secret, _SALT, ref, ack.policy_id, ack.version, ack.period)


def calendar_token(secret: bytes, ref: str) -> str:
    """A person's calendar feed: signed like the confirm links, under a salt of its own."""
    return _dumps(secret, _CALENDAR_SALT, ref)


def read_calendar_token(secret: bytes, token: str, key_of: KeyOf) -> str:
    try:
        [person] = _loads(secret, _CALENDAR_SALT, token, key_of, 1)
    except BadToken:
        raise BadToken("this calendar link is not valid: it may have been altered or cut "
                       "short") from None
    return str(person)


def annual_token(secret: bytes, ref: str, year: str) -> str:
    """A person's page for one school year's annual reminder: every policy it lists."""
    return _dumps(secret, _BUNDLE_SALT, ref, year)


def agenda_token(secret: bytes, meeting_id: int) -> str:
    """A meeting's agenda and drafts for its members: one link for the meeting (not
    personal: a governor may pass it to another), signed so that no other meeting's can be
    guessed from it."""
    token: str = _serializer(secret, _AGENDA_SALT).dumps(meeting_id)
    return token


def read_agenda_token(secret: bytes, token: str) -> int:
    try:
        meeting_id = _serializer(secret, _AGENDA_SALT).loads(token)
    except (BadSignature, ValueError, TypeError):
        meeting_id = None
    if not isinstance(meeting_id, int) or isinstance(meeting_id, bool):
        raise BadToken("This agenda link is not valid: it may have been altered or cut "
                       "short. Please ask the clerk for the link again.")
    return meeting_id


def read_annual_token(secret: bytes, token: str, key_of: KeyOf) -> tuple[str, str]:
    """(person, school year) from an annual reminder's link."""
    person, year = _loads(secret, _BUNDLE_SALT, token, key_of, 2)
    return str(person), str(year)


def read_token(secret: bytes, token: str, key_of: KeyOf) -> Ack:
    person, policy_id, version, period = _loads(secret, _SALT, token, key_of, 4)
    try:
        return Ack(str(person), str(policy_id), int(version), str(period))
    except (ValueError, TypeError):
        raise BadToken(_INVALID) from None


def reading_list(policies: list[PolicyRecord], person: Person, today: date) -> list[PolicyRecord]:
    """The policies a person's annual reminder asks them to read: those whose reminder
    audience holds one of their roles, adopted by ``today``."""
    roles = set(person.roles)
    return [p for p in policies if roles & set(p.reminder_audience) and p.first_adopted <= today]


def counts_now(policy: PolicyRecord, years: set[str], year: str) -> bool:
    """Whether confirmations of the current version given in ``years`` count in ``year``:
    this year's for a policy confirmed yearly, any for one confirmed once per version."""
    return year in years if policy.yearly else bool(years)


def this_year(register: Register, policies: list[PolicyRecord], person: Person, today: date,
              year: str) -> tuple[list[PolicyRecord], list[PolicyRecord]]:
    """(asked, confirmed so that it counts now): the person's reading list this year;
    nothing for someone not active ``today`` (a leaver is asked to read nothing)."""
    if not person.active_on(today):
        return [], []
    asked = reading_list(policies, person, today)
    given = register.confirmations.by_person(email_key(person.email))
    return asked, [p for p in asked if counts_now(p, given.get((p.id, p.version), set()), year)]


def confirm(register: Register, policy: PolicyRecord, ack: Ack, address: str, now: datetime,
            cycle_start: tuple[int, int]) -> bool:
    """Record that the person read this version; True if new, False if already recorded
    (this school year, for a policy confirmed yearly)."""
    return register.confirmations.add(Confirmation(
        person_key=ack.person, policy_id=ack.policy_id, version=ack.version,
        sha256=policy.sha256, period=ack.period, confirmed_at=now, address=address,
        school_year=school_year(now.date(), cycle_start)[1]), now, policy.yearly)


@dataclass(frozen=True)
class Progress:
    """Where read-and-confirm stands for a policy's current version."""

    policy_id: str
    version: int
    asked: set[str]
    confirmed: set[str]
    chased_out: set[str]   # asked, chased to the end of the ladder a week ago, not confirmed

    @property
    def missing(self) -> set[str]:
        return self.asked - self.confirmed


def progress(register: Register, policy: PolicyRecord, config: Config, today: date,
             people: list[Person]) -> Progress:
    """Who was asked to read the current version (this school year, for a policy confirmed
    yearly), who confirmed it so that it counts today, and who was chased to the last rung
    of the ladder at least a week ago without confirming. The annual reminder asks everyone
    in the policy's reminder audience who received it this school year, and after this
    version was adopted: a reminder or chaser about an earlier version asked nothing of this
    one."""
    start, year = school_year(today, config.cycle_start)
    since = max(policy.adopted, start) if policy.yearly else policy.adopted
    bundled = max(policy.adopted, start)
    box = register.outbox
    readers = {email_key(p.email) for p in people if set(p.roles) & set(policy.reminder_audience)}
    asked = box.asked(policy.id, since) | (box.asked("", bundled) & readers)
    done = set(register.confirmations.of_version(policy.id, policy.version,
                                                 year if policy.yearly else None))
    last = f"chase-{config.chase_after_days[-1]}" if config.chase_after_days else ""
    until = today - GRACE_AFTER_LAST_CHASER
    chased = (box.chased(policy.id, last, since, until)
              | (box.chased("", last, bundled, until) & readers) if last else set())
    return Progress(policy.id, policy.version, asked, done & asked, chased - done)
