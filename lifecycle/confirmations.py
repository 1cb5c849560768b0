"""Read and confirm: signed personal links, and the evidence that someone read a version.

A token names person, policy, version and reminder period, signed with the instance's secret
key (data/secret.key, created by init, mode 0600), so it cannot be guessed, forged or edited.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from itsdangerous import BadSignature, URLSafeSerializer

from .config import Config
from .dates import school_year
from .errors import LifecycleError
from .model import Confirmation, Person, PolicyRecord, email_key
from .store import Register

SECRET_FILE = "secret.key"
_SALT = "policy-lifecycle/ack"
_CALENDAR_SALT = "policy-lifecycle/calendar"
_BUNDLE_SALT = "policy-lifecycle/annual"
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


def signer(secret: bytes) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=_SALT)


def make_token(secret: bytes, ack: Ack) -> str:
    token: str = signer(secret).dumps([ack.person, ack.policy_id, ack.version, ack.period])
    return token


def calendar_token(secret: bytes, person_key: str) -> str:
    """A person's calendar feed: signed like the confirm links, under a salt of its own."""
    token: str = URLSafeSerializer(secret, salt=_CALENDAR_SALT).dumps(person_key)
    return token


def read_calendar_token(secret: bytes, token: str) -> str:
    try:
        return str(URLSafeSerializer(secret, salt=_CALENDAR_SALT).loads(token))
    except (BadSignature, ValueError, TypeError):
        raise BadToken("this calendar link is not valid: it may have been altered or cut "
                       "short") from None


def annual_token(secret: bytes, person_key: str, year: str) -> str:
    """A person's page for one school year's annual reminder: every policy it lists."""
    token: str = URLSafeSerializer(secret, salt=_BUNDLE_SALT).dumps([person_key, year])
    return token


def read_annual_token(secret: bytes, token: str) -> tuple[str, str]:
    """(person, school year) from an annual reminder's link."""
    try:
        person, year = URLSafeSerializer(secret, salt=_BUNDLE_SALT).loads(token)
    except (BadSignature, ValueError, TypeError):
        raise BadToken("This link is not valid: it may have been altered or cut short. "
                       f"{ASK_THE_OFFICE}") from None
    return str(person), str(year)


def read_token(secret: bytes, token: str) -> Ack:
    try:
        person, policy_id, version, period = signer(secret).loads(token)
    except (BadSignature, ValueError, TypeError):
        raise BadToken("This link is not valid: it may have been altered or cut short. "
                       f"{ASK_THE_OFFICE}") from None
    return Ack(str(person), str(policy_id), int(version), str(period))


def reading_list(policies: list[PolicyRecord], person: Person, today: date) -> list[PolicyRecord]:
    """The policies a person's annual reminder asks them to read: those whose reminder
    audience holds one of their roles, adopted by ``today``."""
    roles = set(person.roles)
    return [p for p in policies if roles & set(p.reminder_audience) and p.first_adopted <= today]


def confirm(register: Register, policy: PolicyRecord, ack: Ack, address: str, now: datetime,
            cycle_start: tuple[int, int]) -> bool:
    """Record that the person read this version; True if new, False if already recorded
    (this school year, for a policy confirmed yearly)."""
    return register.add_confirmation(Confirmation(
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
    chased_out: set[str]   # asked, chased to the end of the ladder, still not confirmed

    @property
    def missing(self) -> set[str]:
        return self.asked - self.confirmed


def progress(register: Register, policy: PolicyRecord, config: Config, today: date,
             people: list[Person]) -> Progress:
    """Who was asked to read the current version (this school year, for a policy confirmed
    yearly), who confirmed it so that it counts today, and who was chased to the last rung
    of the ladder without confirming. The annual reminder asks everyone in the policy's
    reminder audience who received it this school year."""
    start, year = school_year(today, config.cycle_start)
    since = max(policy.adopted, start) if policy.yearly else policy.adopted
    box = register.outbox
    readers = {email_key(p.email) for p in people if set(p.roles) & set(policy.reminder_audience)}
    asked = box.asked(policy.id, since) | (box.asked("", start) & readers)
    done = set(register.confirmations(policy.id, policy.version,
                                      year if policy.yearly else None))
    last = f"chase-{config.chase_after_days[-1]}" if config.chase_after_days else ""
    chased = (box.chased(policy.id, last, since) | (box.chased("", last, start) & readers)
              if last else set())
    return Progress(policy.id, policy.version, asked, done & asked, chased - done)
